"""The README stays true: its commands exist and its settings table lists every setting."""

import re
from pathlib import Path

from fleet._cli import _FLAG_ALIASES
from fleet._settings import Settings, env_name, flag_name

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_the_two_commands_exist_and_ci_runs_the_test_one() -> None:
    block = re.search(r"## Two commands.*?```sh\n(.*?)```", README, re.S)
    assert block
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["scripts/demo", "scripts/test"]
    for command in commands:
        assert (ROOT / command).stat().st_mode & 0o111
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()


def test_every_setting_is_in_the_settings_table_with_its_flag() -> None:
    rows = {
        m.group(1): m.group(2) for m in re.finditer(r"^\| `(FLEET_\w+)` \| (\S+) ", README, re.M)
    }
    expected = {env_name(name) for name in Settings.model_fields}
    assert set(rows) == expected
    for name in Settings.model_fields:
        if name != "app":
            flag = _FLAG_ALIASES.get(name, flag_name(name))
            assert rows[env_name(name)] == f"`{flag}`", name


def test_documented_defaults_match_the_code() -> None:
    defaults = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `(FLEET_\w+)` \| \S+ \| (\S+) \|", README, re.M)
    }
    for name, info in Settings.model_fields.items():
        if isinstance(info.default, int | float) and not isinstance(info.default, bool):
            assert float(defaults[env_name(name)]) == float(info.default), name
