"""The CloudWatch dashboard template and how apply fills it in."""

from __future__ import annotations

import json
from pathlib import Path

from deploy_support import ACCOUNT, EXAMPLE, Cli, Clients

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


def test_a_dashboard_edited_by_hand_shows_the_widget_that_differs(cli: Cli, aws: Clients) -> None:
    assert cli("apply").code == 0
    body = json.loads(aws.cloudwatch.get_dashboard(DashboardName="hello-world")["DashboardBody"])
    body["widgets"][1]["properties"]["title"] = "edited in the console"
    aws.cloudwatch.put_dashboard(DashboardName="hello-world", DashboardBody=json.dumps(body))

    steps = cli("plan", "--json").json()["steps"]
    (dashboard,) = [s for s in steps if s["kind"] == "CloudWatch dashboard"]
    assert [c["field"] for c in dashboard["changes"]] == ["body.widgets[1].properties.title"]
    assert dashboard["changes"][0]["current"] == "edited in the console"
    human = cli("plan")
    assert "body.widgets[1].properties.title: edited in the console →" in human.out
    assert cli("apply").code == 0
    assert cli("plan", "--detailed-exitcode").code == 0
