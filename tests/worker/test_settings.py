"""Settings come from FLEET_* variables and flags; a bad one names itself in one line."""

import pytest

from fleet._errors import ConfigurationError
from fleet._settings import load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("FLEET_") or key in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            monkeypatch.delenv(key)


def test_defaults_are_safe_for_fargate() -> None:
    settings = load_settings()
    assert settings.drain_seconds < 120  # below Fargate's maximum stopTimeout
    assert settings.log_format == "json"
    assert settings.metrics_host == "127.0.0.1"


def test_environment_is_read_and_flags_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_CONCURRENCY", "12")
    monkeypatch.setenv("FLEET_LOG_FORMAT", "CONSOLE")
    assert load_settings().concurrency == 12
    assert load_settings().log_format == "console"
    assert load_settings(concurrency="7").concurrency == 7


def test_region_falls_back_to_aws_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert load_settings().region == "eu-west-1"
    monkeypatch.setenv("FLEET_REGION", "us-west-2")
    assert load_settings().region == "us-west-2"


@pytest.mark.parametrize(
    ("env", "flags", "message"),
    [
        ({"FLEET_CONCURRENCY": "0"}, {}, "invalid setting FLEET_CONCURRENCY"),
        ({"FLEET_CONCURRENCY": "lots"}, {}, "invalid setting FLEET_CONCURRENCY"),
        ({}, {"drain_seconds": "-1"}, "invalid setting --drain-seconds"),
        ({"FLEET_LOG_FORMAT": "xml"}, {}, "invalid setting FLEET_LOG_FORMAT"),
        ({"FLEET_METRICS_PORT": "70000"}, {}, "invalid setting FLEET_METRICS_PORT"),
        ({"FLEET_MIN_POLLERS": "9", "FLEET_MAX_POLLERS": "3"}, {}, "FLEET_MIN_POLLERS (9)"),
        ({"FLEET_CONCURENCY": "3"}, {}, "did you mean FLEET_CONCURRENCY"),
        ({"FLEET_DRAIN_SECONDS": "10", "FLEET_DRAIN_RESERVE_SECONDS": "20"}, {}, "DRAIN_RESERVE"),
    ],
)
def test_a_bad_value_stops_with_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], flags: dict[str, str], message: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigurationError) as info:
        load_settings(**flags)
    text = str(info.value)
    assert message in text
    assert "\n" not in text
