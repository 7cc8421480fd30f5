"""Field parsing shared by the definition validator: problem list, paths, templates, seconds."""

from __future__ import annotations

from typing import Any

from fleet.emulator._dataflow import MAX_SECONDS, Template
from fleet.emulator._jsonpath import Path, compile_path

__all__ = ["MAX_SECONDS", "ROOT", "Problems", "path_field", "seconds_field", "template_field"]

ROOT = Path("$", False, ())
"""The default of InputPath, OutputPath and ResultPath."""


class Problems:
    """Problems found in a definition, each worded as AWS words them: `CODE: message at /path`."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.found: list[tuple[str, str, str]] = []
        self.language = "JSONPath"
        """The definition's QueryLanguage: the default of every state that names none."""
        """The same problems as (code, message, location), for ValidateStateMachineDefinition."""

    def add(self, where: str, message: str, code: str = "SCHEMA_VALIDATION_FAILED") -> None:
        """Record one problem at a JSON-pointer-like location."""
        self.items.append(f"{code}: {message} at {where or '/'}")
        self.found.append((code, message, where or "/"))


def path_field(
    body: dict[str, Any],
    key: str,
    where: str,
    problems: Problems,
    default: Path | None = None,
    reference: bool = False,
) -> Path | None:
    """The compiled path at `body[key]`: `default` when absent, None when JSON null."""
    if key not in body:
        return default
    text = body[key]
    if text is None:
        return None
    try:
        path = compile_path(text, reference=reference)
    except ValueError as exc:
        problems.add(f"{where}/{key}", str(exc))
        return default
    if path.var is not None and key == "ResultPath":
        problems.add(f"{where}/{key}", f"ResultPath cannot write to a variable: {text!r}")
        return default
    return path


def template_field(
    body: dict[str, Any], key: str, where: str, problems: Problems
) -> Template | None:
    """The compiled payload template at `body[key]`, if present and valid."""
    if key not in body:
        return None
    try:
        return Template(body[key])
    except ValueError as exc:
        problems.add(f"{where}/{key}", str(exc))
        return None


def seconds_field(value: Any, where: str, problems: Problems, minimum: int = 1) -> int | None:
    """`value` if it is an integer of seconds in range, else a recorded problem and None."""
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_SECONDS:
        problems.add(where, f"The value must be an integer between {minimum} and {MAX_SECONDS}")
        return None
    return value
