"""The distribution declares what it imports: every third-party import has a lower bound."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The code the distribution ships and runs; tests and benchmarks have their own extras.
SHIPPED = ("fleet", "deploy")
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
#: Extras for working on the project itself; shipped code must not need them.
DEVELOPMENT_EXTRAS = ("test", "bench")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement(spec: str) -> tuple[str, str]:
    """(canonical name, version specifier) of a PEP 508 requirement string."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^]]*\])?\s*([^;]*)", spec)
    assert match, f"cannot read requirement {spec!r}"
    return _canonical(match.group(1)), match.group(3).strip()


def _imported_modules() -> dict[str, set[str]]:
    """Top-level module name -> files of the shipped packages that import it (absolute imports,
    nested ones included)."""
    found: dict[str, set[str]] = {}
    for package in SHIPPED:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.partition(".")[0]
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def _third_party(found: dict[str, set[str]]) -> dict[str, set[str]]:
    return {
        module: files
        for module, files in found.items()
        if module not in sys.stdlib_module_names and module not in SHIPPED
    }


def _declared() -> dict[str, str]:
    """Canonical name -> version specifier of the dependencies and the user-facing extras."""
    specs = list(PROJECT["dependencies"])
    for extra, extra_specs in PROJECT.get("optional-dependencies", {}).items():
        if extra not in DEVELOPMENT_EXTRAS:
            specs.extend(extra_specs)
    return dict(_requirement(spec) for spec in specs)


def test_every_third_party_import_is_a_declared_dependency_with_a_lower_bound() -> None:
    declared = _declared()
    distributions = importlib.metadata.packages_distributions()
    imported = _third_party(_imported_modules())
    assert imported, "no third-party import found: the scan reads the wrong files"

    missing, unbounded = [], []
    for module, files in sorted(imported.items()):
        owners = {_canonical(d) for d in distributions.get(module, [module])}
        hits = owners & declared.keys()
        if not hits:
            missing.append(f"{module} (from {', '.join(sorted(owners))}; in {sorted(files)[0]})")
        elif not any(">=" in declared[d] or "~=" in declared[d] for d in hits):
            unbounded.append(module)
    assert not missing, f"imported but not declared in [project] dependencies: {missing}"
    assert not unbounded, f"declared without a lower bound: {unbounded}"


def test_the_scan_sees_the_imports_the_runtime_is_built_on() -> None:
    # Guards the test above against a scan that silently finds less than the code uses.
    imported = _third_party(_imported_modules())
    for module in ("aiohttp", "aiobotocore", "botocore", "pydantic", "anyio"):
        assert module in imported, module


def test_every_declared_dependency_is_used() -> None:
    distributions = importlib.metadata.packages_distributions()
    used = {
        _canonical(dist)
        for module in _third_party(_imported_modules())
        for dist in distributions.get(module, [module])
    }
    declared = set(_declared())
    assert declared <= used, f"declared but never imported: {sorted(declared - used)}"
