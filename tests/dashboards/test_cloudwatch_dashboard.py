"""The CloudWatch dashboard template: a valid body, only the placeholders deploy fills in."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from dashboards_support import CLOUDWATCH

#: What `deploy apply` substitutes (deploy/resources/dashboard.py); anything else would be
#: uploaded literally.
PLACEHOLDERS = {
    "${Region}",
    "${ActivityArn}",
    "${ActivityName}",
    "${StateMachineArn}",
    "${Cluster}",
    "${Service}",
    "${Namespace}",
}


@pytest.fixture(scope="module")
def body() -> dict[str, Any]:
    return dict(json.loads(CLOUDWATCH.read_text(encoding="utf-8")))


def _metric_lines(body: dict[str, Any]) -> list[list[Any]]:
    return [line for w in body["widgets"] for line in w.get("properties", {}).get("metrics", [])]


def test_only_the_placeholders_deploy_fills_in(body: dict[str, Any]) -> None:
    used = set(re.findall(r"\$\{\w+\}", CLOUDWATCH.read_text(encoding="utf-8")))
    assert used == PLACEHOLDERS


def test_widgets_are_placed_on_the_24_column_grid_without_overlap(body: dict[str, Any]) -> None:
    assert 0 < len(body["widgets"]) <= 500
    taken: set[tuple[int, int]] = set()
    for widget in body["widgets"]:
        assert widget["type"] in {"metric", "text"}
        assert widget["x"] + widget["width"] <= 24
        cells = {
            (x, y)
            for x in range(widget["x"], widget["x"] + widget["width"])
            for y in range(widget["y"], widget["y"] + widget["height"])
        }
        assert not cells & taken, widget["properties"].get("title")
        taken |= cells


def test_metric_lines_are_namespace_name_and_dimension_pairs(body: dict[str, Any]) -> None:
    for widget in body["widgets"]:
        if widget["type"] != "metric":
            continue
        properties = widget["properties"]
        assert properties["title"]
        assert properties["region"] == "${Region}"
        assert properties["period"] >= 60
        for line in properties["metrics"]:
            names = line[:-1] if isinstance(line[-1], dict) else line
            assert all(isinstance(part, str) for part in names), line
            assert len(names) % 2 == 0, line  # namespace, metric, then name/value pairs


def test_activity_and_service_metrics_are_on_it(body: dict[str, Any]) -> None:
    lines = {(line[0], line[1]): line for line in _metric_lines(body)}
    for metric in (
        "ActivitiesScheduled",
        "ActivitiesStarted",
        "ActivitiesSucceeded",
        "ActivitiesFailed",
        "ActivitiesTimedOut",
        "ActivitiesHeartbeatTimedOut",
        "ActivityScheduleTime",
        "ActivityRunTime",
    ):
        assert lines[("AWS/States", metric)][2:4] == ["ActivityArn", "${ActivityArn}"], metric
    for metric in ("CPUUtilization", "MemoryUtilization"):
        assert lines[("AWS/ECS", metric)][2:6] == [
            "ClusterName",
            "${Cluster}",
            "ServiceName",
            "${Service}",
        ]
    assert ("ECS/ContainerInsights", "RunningTaskCount") in lines
    assert ("AWS/States", "ThrottledEvents") in lines
