"""Scheduled scaling for known peaks: scheduled actions on moto, and bad entries refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy_support import EXAMPLE, Cli, Clients

from deploy.errors import StackFileError
from deploy.stack import load_stack

STACK = "hello-world"
RESOURCE = f"service/{STACK}/{STACK}"
PEAKS = (
    'peaks=[{name="monday", expression="cron(0 8 ? * MON *)", timezone="Europe/Paris", '
    'min_tasks=4, max_tasks=10}, {name="after", expression="cron(0 11 ? * MON *)", '
    'timezone="Europe/Paris", min_tasks=1, max_tasks=2}]'
)


def _actions(aws: Clients) -> dict[str, dict[str, object]]:
    found = aws.application_autoscaling.describe_scheduled_actions(
        ServiceNamespace="ecs", ResourceId=RESOURCE
    )["ScheduledActions"]
    return {a["ScheduledActionName"]: a for a in found}


@pytest.mark.slow
def test_peaks_become_scheduled_actions_and_go_when_removed(cli: Cli, aws: Clients) -> None:
    result = cli("apply", "--set", PEAKS)
    assert result.code == 0, result.err
    actions = _actions(aws)
    assert sorted(actions) == [f"{STACK}-peak-after", f"{STACK}-peak-monday"]
    monday = actions[f"{STACK}-peak-monday"]
    assert monday["Schedule"] == "cron(0 8 ? * MON *)"
    assert monday["ScalableTargetAction"] == {"MinCapacity": 4, "MaxCapacity": 10}
    assert monday["ScalableDimension"] == "ecs:service:DesiredCount"
    again = cli("apply", "--json", "--set", PEAKS).json()["steps"]
    assert {s["action"] for s in again} <= {"unchanged", "absent"}, [
        (s["kind"], s["name"], s["changes"]) for s in again if s["action"] != "unchanged"
    ]
    # Removed from the file: deleted (after confirmation, as every delete).
    assert cli("apply", "--yes").code == 0
    assert _actions(aws) == {}


def test_bad_peaks_are_refused_naming_the_field(tmp_path: Path) -> None:
    bad = (
        'peaks=[{name="x", expression="cron(0 25 ? * MON *)", timezone="Mars/Olympus", '
        "min_tasks=5, max_tasks=2}]"
    )
    with pytest.raises(StackFileError) as info:
        load_stack(EXAMPLE, [bad])
    message = str(info.value)
    assert "peaks[0].expression: cron hours: 25 is not in 0-23" in message
    assert "peaks[0].timezone: 'Mars/Olympus' is not an IANA time zone" in message
    assert "peaks[0].max_tasks: must be at least min_tasks (5), got 2" in message
