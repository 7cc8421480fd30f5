"""The CloudWatch dashboard template and how apply fills it in."""

from __future__ import annotations

import json
from pathlib import Path

from deploy_support import ACCOUNT, EXAMPLE

from deploy.names import Names
from deploy.resources.dashboard import TEMPLATE, render
from deploy.stack import load_stack

PLACEHOLDERS = (
    "${Region}",
    "${ActivityArn}",
    "${StateMachineArn}",
    "${Cluster}",
    "${Service}",
    "${Namespace}",
)


def _lines(body: dict) -> list[list]:
    return [line for w in body["widgets"] for line in w.get("properties", {}).get("metrics", [])]


def test_template_is_a_dashboard_body_with_the_agreed_placeholders() -> None:
    template = json.loads(TEMPLATE.read_text())
    text = TEMPLATE.read_text()
    for placeholder in PLACEHOLDERS:
        assert placeholder in text, placeholder
    metrics = {(line[0], line[1]) for line in _lines(template)}
    for name in (
        "ActivitiesScheduled",
        "ActivitiesStarted",
        "ActivitiesSucceeded",
        "ActivitiesFailed",
        "ActivitiesTimedOut",
        "ActivitiesHeartbeatTimedOut",
        "ActivityScheduleTime",
        "ActivityRunTime",
    ):
        assert ("AWS/States", name) in metrics
    assert ("AWS/ECS", "CPUUtilization") in metrics
    assert ("AWS/ECS", "MemoryUtilization") in metrics
    assert ("ECS/ContainerInsights", "RunningTaskCount") in metrics
    assert ("${Namespace}", "SlotUtilization") in metrics
    for widget in template["widgets"]:
        assert {"type", "x", "y", "width", "height", "properties"} <= set(widget)


def test_each_activity_line_is_repeated_per_activity(tmp_path: Path) -> None:
    path = tmp_path / "stack.toml"
    path.write_text(EXAMPLE.read_text() + '\n[[activities]]\nname = "Resize"\n')
    names = Names(load_stack(path), ACCOUNT)
    template = json.loads(TEMPLATE.read_text())
    body = render(template, names)
    text = json.dumps(body)
    assert "${" not in text
    template_lines = _lines(template)
    with_activity = sum(1 for line in template_lines if "${ActivityArn}" in json.dumps(line))
    assert len(_lines(body)) == len(template_lines) + with_activity  # one extra copy each
    for activity in ("HelloWorldActivity", "Resize"):
        arn = names.activity_arn(activity)
        assert ["AWS/States", "ActivitiesScheduled", "ActivityArn", arn] in [
            line[:4] for line in _lines(body)
        ]
    running = next(line for line in _lines(body) if line[1] == "RunningTaskCount")
    assert running[:6] == [
        "ECS/ContainerInsights",
        "RunningTaskCount",
        "ClusterName",
        "hello-world",
        "ServiceName",
        "hello-world",
    ]
    assert names.state_machine_arn in text
