"""The Grafana dashboard's model: importable, navigable, every panel explained and parseable."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from dashboards_support import (
    Query,
    dashboard_queries,
    graph_panels,
    load_dashboard,
    metric_names,
    rules_file,
    run_promtool,
    selectors,
    substitute,
    variable_query,
    variables,
)

ROWS = [
    "Throughput and outcomes",
    "Saturation",
    "Latency",
    "Heartbeats and API calls",
    "Lifecycle",
    "Process",
]
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return load_dashboard()


def _panel(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    found = [p for p in graph_panels(dashboard) if p["title"] == title]
    assert len(found) == 1, f"{len(found)} panels titled {title!r}"
    return found[0]


def test_dashboard_is_a_current_grafana_model_with_a_stable_uid(dashboard: dict[str, Any]) -> None:
    assert dashboard["schemaVersion"] >= 39
    assert dashboard["id"] is None  # assigned by Grafana on import
    assert re.fullmatch(r"[a-zA-Z0-9_-]{8,40}", dashboard["uid"])
    assert dashboard["title"]
    assert "sfn-fleet" in dashboard["tags"]
    assert dashboard["graphTooltip"] == 1  # crosshair shared across panels


def test_data_source_is_a_prometheus_variable_used_by_every_query(
    dashboard: dict[str, Any],
) -> None:
    source = variables(dashboard)["datasource"]
    assert source["type"] == "datasource"
    assert source["query"] == "prometheus"
    for panel in graph_panels(dashboard):
        assert panel["datasource"] == DATASOURCE, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
    for name in ("job", "activity", "instance"):
        assert variables(dashboard)[name]["datasource"] == DATASOURCE


def test_job_activity_and_instance_variables_are_multi_select_label_queries(
    dashboard: dict[str, Any],
) -> None:
    found = variables(dashboard)
    for name in ("job", "activity", "instance"):
        variable = found[name]
        assert variable["type"] == "query"
        assert variable["multi"] is True
        assert variable["includeAll"] is True
        assert variable["refresh"] == 2  # re-read on time range change: workers come and go
        assert re.fullmatch(rf"label_values\(.+, {name}\)", variable_query(variable))
        assert variable["definition"] == variable_query(variable)
    # The worker list narrows to the workers of the chosen activities, both to the stack.
    assert "$activity" in variable_query(found["instance"])
    assert '{job=~"$job"}' in variable_query(found["activity"])
    assert 'job=~"$job"' in variable_query(found["instance"])
    # Two stacks scraped by one Prometheus: the first variable picks one.
    names = [v["name"] for v in dashboard["templating"]["list"]]
    assert names.index("job") < names.index("activity") < names.index("instance")


def test_rows_come_in_the_order_an_operator_reads_them(dashboard: dict[str, Any]) -> None:
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ROWS
    assert dashboard["panels"][0]["type"] == "row"


def test_every_panel_has_a_unit_and_a_description(dashboard: dict[str, Any]) -> None:
    for panel in graph_panels(dashboard):
        assert panel["fieldConfig"]["defaults"].get("unit"), panel["title"]
        assert len(panel.get("description", "")) >= 40, panel["title"]
        assert panel["targets"], panel["title"]


def test_ratio_panels_are_percentages_and_latency_panels_seconds(
    dashboard: dict[str, Any],
) -> None:
    for panel in graph_panels(dashboard):
        unit = panel["fieldConfig"]["defaults"]["unit"]
        exprs = " ".join(t["expr"] for t in panel["targets"])
        if "histogram_quantile" in exprs or "_seconds_sum" in exprs:
            assert unit == "s", panel["title"]
        if re.search(r"\b(ratio|utilisation)\b", panel["title"].lower()):
            assert unit == "percentunit", panel["title"]
            assert panel["fieldConfig"]["defaults"]["max"] == 1, panel["title"]


def test_panels_tile_the_grid_without_overlap(dashboard: dict[str, Any]) -> None:
    taken: set[tuple[int, int]] = set()
    ids = []
    for panel in dashboard["panels"]:
        ids.append(panel["id"])
        pos = panel["gridPos"]
        assert pos["x"] >= 0, panel["title"]
        assert pos["w"] >= 1, panel["title"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells
    assert len(ids) == len(set(ids))


def test_task_duration_shows_p50_p90_p99_from_the_histogram(dashboard: dict[str, Any]) -> None:
    for title in ("Task duration (p50, p90, p99)", "Schedule-to-start (p50, p90, p99)"):
        exprs = [t["expr"] for t in _panel(dashboard, title)["targets"]]
        quantiles = [re.match(r"histogram_quantile\(([\d.]+),", e) for e in exprs]
        assert [m.group(1) for m in quantiles if m] == ["0.5", "0.9", "0.99"], title
        for expr in exprs:
            assert "_bucket{" in expr, expr
            assert re.search(r"by \([\w, ]*\ble\)", expr), expr


def test_every_rate_uses_the_rate_interval(dashboard: dict[str, Any]) -> None:
    for query in dashboard_queries(dashboard):
        for window in re.findall(r"\[([^\]]+)\]", query.expr):
            assert window == "$__rate_interval", query.where


def test_every_query_filters_by_job_and_worker_and_most_by_activity(
    dashboard: dict[str, Any],
) -> None:
    for query in dashboard_queries(dashboard):
        for metric, matchers in selectors(query.expr):
            assert 'job=~"$job"' in matchers, f"{query.where}: {metric}"
            assert 'instance=~"$instance"' in matchers, f"{query.where}: {metric}"
        assert metric_names(query.expr), query.where
        assert "{" in query.expr, f"{query.where}: a bare metric name ignores the variables"


def test_every_expression_parses(dashboard: dict[str, Any], tmp_path: Path) -> None:
    queries = dashboard_queries(dashboard)
    rules = tmp_path / "panels.rules.yml"
    rules.write_text(rules_file(queries, {"job": ".*", "activity": ".*", "instance": ".*"}))
    result = run_promtool("check", "rules", "--lint=none", str(rules))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def test_a_broken_expression_would_be_caught(tmp_path: Path) -> None:
    rules = tmp_path / "broken.rules.yml"
    rules.write_text(rules_file([Query("broken", 'sum(rate(fleet_polls_total{a="b"}[1m])')], {}))
    result = run_promtool("check", "rules", "--lint=none", str(rules))
    assert result.returncode != 0


def test_substitution_fills_every_variable(dashboard: dict[str, Any]) -> None:
    for query in dashboard_queries(dashboard):
        filled = substitute(query.expr, {"job": "J", "activity": "A", "instance": "I"})
        assert "$" not in filled, query.where
    with pytest.raises(KeyError):
        substitute('fleet_ready{stack=~"$stack"}', {"activity": "A", "instance": "I"})
