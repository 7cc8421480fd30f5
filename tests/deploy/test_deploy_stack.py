"""The stack file: the example loads, bad files say which field of which file is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy_support import EXAMPLE

from deploy.__main__ import main
from deploy.errors import StackFileError
from deploy.stack import STACK_TAG, load_stack, schedule_expression_problem


def _write(tmp_path: Path, replace: dict[str, str] | None = None, append: str = "") -> Path:
    text = EXAMPLE.read_text()
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "stack.toml"
    path.write_text(text + append)
    return path


def _error(path: Path, *overrides: str) -> str:
    with pytest.raises(StackFileError) as info:
        load_stack(path, list(overrides))
    return str(info.value)


def test_example_stack_is_the_hello_world_job() -> None:
    stack = load_stack(EXAMPLE)
    assert stack.name == "hello-world"
    assert stack.mode == "service"
    assert stack.worker.app == "fleet.examples.hello:app"
    assert [a.name for a in stack.activities] == ["HelloWorldActivity"]
    assert stack.activities[0].heartbeat_seconds < stack.activities[0].timeout_seconds
    assert stack.tag_dict() == {"project": "sfn-fleet-example", STACK_TAG: "hello-world"}


def test_heartbeat_not_below_timeout_names_the_activity_field(tmp_path: Path) -> None:
    path = _write(tmp_path, {"timeout_seconds = 900": "timeout_seconds = 60"})
    message = _error(path)
    assert str(path) in message
    assert "activities[0].timeout_seconds: must be above heartbeat_seconds (60), got 60" in message


def test_every_bad_field_is_listed_with_its_path(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            'architecture = "arm64"': 'architecture = "arm"',
            "target_utilization = 0.7": "target_utilization = 1.5",
            'subnets = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]': (
                'subnets = ["subnet-0123456789abcdef0", "my-subnet"]'
            ),
        },
    )
    message = _error(path)
    assert "architecture: Input should be 'x86_64' or 'arm64' (got 'arm')" in message
    assert "sizing.target_utilization: Input should be less than or equal to 1 (got 1.5)" in message
    assert "network.subnets: 'my-subnet' is not a subnet id" in message


def test_unknown_and_missing_fields(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {'app = "fleet.examples.hello:app"': 'application = "fleet.examples.hello:app"'},
    )
    message = _error(path)
    assert "worker.app: required field is missing" in message
    assert "worker.application: unknown field" in message


def test_invalid_fargate_size_pin_lists_the_valid_memory(tmp_path: Path) -> None:
    path = _write(tmp_path)
    message = _error(path, "sizing.task_cpu=1024", "sizing.task_memory=1024")
    assert "sizing.task_memory: 1024 CPU units with 1024 MiB is not a Fargate size" in message
    assert "with task_cpu 1024 use one of 2048, 3072, 4096, 5120, 6144, 7168, 8192" in message


def test_schedule_expressions_are_checked() -> None:
    assert schedule_expression_problem("rate(5 minutes)") is None
    assert schedule_expression_problem("cron(0 2 ? * MON-FRI *)") is None
    assert schedule_expression_problem("at(2030-01-01T00:00:00)") is None
    assert schedule_expression_problem("rate(1 hours)") == (
        "rate value 1 takes the singular unit: 'rate(1 hour)'"
    )
    assert schedule_expression_problem("rate(5 minute)") == (
        "rate value 5 takes the plural unit: 'rate(5 minutes)'"
    )
    assert "exactly one of day-of-month" in str(schedule_expression_problem("cron(0 2 * * * *)"))
    assert "6 fields" in str(schedule_expression_problem("cron(0 2 * * ?)"))


def test_bad_schedule_and_rule_only_options(tmp_path: Path) -> None:
    path = _write(tmp_path)
    message = _error(path, "schedules.0.expression=rate(1 hours)")
    assert "schedules[0].expression: rate value 1 takes the singular unit" in message
    message = _error(path, 'scheduler="events-rule"', 'schedules.0.timezone="Europe/Paris"')
    assert "schedules[0].timezone: CloudWatch Events rules run in UTC only" in message


def test_batch_mode_needs_run_size_deadline_and_a_schedule(tmp_path: Path) -> None:
    path = _write(tmp_path)
    message = _error(path, 'mode="batch"', "schedules=[]")
    assert "sizing.tasks_per_run: required in batch mode" in message
    assert "sizing.deadline_seconds: required in batch mode" in message
    assert "schedules: batch mode runs the workers from schedules: add one" in message


def test_duplicate_activity_names(tmp_path: Path) -> None:
    path = _write(tmp_path, append='\n[[activities]]\nname = "HelloWorldActivity"\n')
    assert "activities[1].name: duplicates activities[0]" in _error(path)


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('name = "x"\nregion = \n')
    assert f"{path}: not valid TOML" in _error(path)
    assert "cannot read stack file" in _error(tmp_path / "nope.toml")


def test_bad_override_path(tmp_path: Path) -> None:
    path = _write(tmp_path)
    assert "--set 'activities.7.name=x': no such field" in _error(path, "activities.7.name=x")


def test_cli_reports_the_bad_field_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, {'region = "us-east-1"': 'region = "Virginia"'})
    assert main(["size", "--stack", str(path)]) == 1
    err = capsys.readouterr().err
    assert "region: 'Virginia' is not an AWS Region name" in err
    assert str(path) in err.replace("\n", "")


def test_cron_fields_and_at_times_are_checked() -> None:
    assert schedule_expression_problem("cron(0/15 8-18 ? JAN-MAR MON#2 2026-2030)") is None
    assert schedule_expression_problem("cron(0 12 L * ? *)") is None
    assert schedule_expression_problem("cron(0 12 15W * ? *)") is None
    assert schedule_expression_problem("cron(0 25 * * ? *)") == "cron hours: 25 is not in 0-23"
    assert schedule_expression_problem("cron(61 1 * * ? *)") == "cron minutes: 61 is not in 0-59"
    assert schedule_expression_problem("cron(0 1 ? * FUN *)") == (
        "cron day-of-week: FUN is not in 1-7 or SUN-SAT"
    )
    assert schedule_expression_problem("cron(0 1 * 13 ? *)") == (
        "cron month: 13 is not in 1-12 or JAN-DEC"
    )
    assert schedule_expression_problem("cron(0/0 1 * * ? *)") == (
        "cron minutes: step '0' must be a positive number"
    )
    assert "is not a date and time" in str(schedule_expression_problem("at(2030-13-01T00:00:00)"))


def test_a_bad_schedule_stops_plan_before_any_aws_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], api_calls: list[str]
) -> None:
    path = _write(tmp_path)
    code = main(
        [
            "plan",
            "--stack",
            str(path),
            "--endpoint-url",
            "http://127.0.0.1:9",
            "--set",
            'schedules.0.timezone="Europe/Pariss"',
            "--set",
            'schedules.0.expression="cron(0 9 ? * MON-FRY *)"',
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert api_calls == []
    assert "schedules[0].timezone: 'Europe/Pariss' is not an IANA time zone" in err
    assert "schedules[0].expression: cron day-of-week: FRY is not in 1-7 or SUN-SAT" in err
    assert "Traceback" not in err
    assert load_stack(path, ['schedules.0.timezone="America/New_York"']).schedules[0].timezone
