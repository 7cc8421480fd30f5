"""dashboards/README.md points only at files that exist and names every alert it ships."""

from __future__ import annotations

import re

from dashboards_support import DASHBOARDS, ROOT, load_alerts

README = DASHBOARDS / "README.md"


def test_every_file_the_readme_names_is_in_the_repository() -> None:
    text = README.read_text(encoding="utf-8")
    named = set(re.findall(r"`([\w./-]+\.(?:md|json|yml|yaml|py|toml))`", text))
    named |= set(re.findall(r"(?<![`\w/.-])([\w-]+\.md)\b", text))  # bare document names
    named |= set(re.findall(r"\]\(([^)#]+)\)", text))  # Markdown links
    assert named
    missing = {
        name for name in named if not (DASHBOARDS / name).exists() and not (ROOT / name).exists()
    }
    assert not missing, f"the README points at files that are not in the repository: {missing}"
    assert "tests/dashboards" in text
    assert (ROOT / "tests" / "dashboards").is_dir()


def test_the_readme_lists_every_alert() -> None:
    text = README.read_text(encoding="utf-8")
    for rule in load_alerts():
        assert f"| {rule['alert']} |" in text, rule["alert"]
