"""The dashboards against a real Prometheus scraping a running worker.

Every panel query must return data once tasks have run, name only what the worker really
exports, and the alert expressions must select the series the worker really has.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from dashboards_support import (
    alert_queries,
    dashboard_queries,
    graph_panels,
    label_values_query,
    load_dashboard,
    metric_names,
    regex_value,
    run_promtool,
    selectors,
    substitute,
    variable_query,
    variables,
)
from live_stack import ACTIVITY, FAILING, HEARTBEATING, SUCCEEDING, Live, PromQLError

DASHBOARD = load_dashboard()
PANELS = {panel["title"]: panel for panel in graph_panels(DASHBOARD)}


def _all(live: Live) -> dict[str, str]:
    """The variables as Grafana fills them with "All" selected."""
    return {"job": ".*", "activity": ".*", "instance": ".*"}


def _chosen(live: Live) -> dict[str, str]:
    """The variables with this worker and activity chosen."""
    return {
        "job": regex_value(live.job),
        "activity": regex_value(live.activity),
        "instance": regex_value(live.instance),
    }


def _series(live: Live, panel: str, ref: str = "A") -> dict[tuple[tuple[str, str], ...], float]:
    """One panel target's result, keyed by its labels, with the worker chosen."""
    target = next(t for t in PANELS[panel]["targets"] if t["refId"] == ref)
    result = live.query(substitute(target["expr"], _chosen(live)))
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in result}


def _one(live: Live, panel: str, ref: str = "A", **labels: str) -> float:
    found = [
        value
        for key, value in _series(live, panel, ref).items()
        if labels.items() <= dict(key).items()
    ]
    assert len(found) == 1, (panel, ref, labels, _series(live, panel, ref))
    return found[0]


def test_worker_metrics_pass_promtool_check_metrics(live: Live) -> None:
    assert live.exposition is not None
    result = run_promtool("check", "metrics", stdin=live.exposition.text)
    assert result.returncode == 0, result.stdout + result.stderr


def test_counters_exist_at_zero_for_every_label_value(live: Live) -> None:
    # The panels rely on this: rate() of an outcome that never happened is a 0-valued series.
    assert live.exposition is not None
    expected = {
        "fleet_tasks_completed_total": (
            "outcome",
            {"succeeded", "failed", "cancelled", "drained", "interrupted", "unreported"},
        ),
        "fleet_polls_total": ("result", {"task", "empty", "error", "throttled"}),
        "fleet_heartbeats_total": ("result", {"ok", "task_gone", "error", "throttled"}),
    }
    for name, (label, values) in expected.items():
        found = {
            labels[label]
            for labels in live.exposition.samples_of(name)
            if labels.get("activity") == live.activity
        }
        assert found == values, name
    outcomes = {
        labels["outcome"] for labels in live.exposition.samples_of("fleet_api_requests_total")
    }
    assert outcomes == {"ok", "throttled", "client_error", "server_error", "network_error"}


def test_dashboard_and_alerts_name_only_exported_metrics(live: Live) -> None:
    assert live.exposition is not None
    exported = set(live.exposition.labels)
    for query in [*dashboard_queries(DASHBOARD), *alert_queries()]:
        # `up` is Prometheus's own series for every target it scrapes.
        unknown = metric_names(query.expr) - exported - {"up"}
        assert not unknown, f"{query.where}: {sorted(unknown)} not in the worker's /metrics"
    for name in ("job", "activity", "instance"):
        selector, _ = label_values_query(variable_query(variables(DASHBOARD)[name]))
        assert metric_names(selector) <= exported, name


def test_every_exported_fleet_metric_is_on_the_dashboard(live: Live) -> None:
    assert live.exposition is not None
    shown = {name for q in dashboard_queries(DASHBOARD) for name in metric_names(q.expr)}
    families = {
        name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
        for name in live.exposition.labels
        if name.startswith("fleet_")
    }
    missing = {
        family
        for family in families
        if not any(name == family or name.startswith(family + "_") for name in shown)
    }
    assert not missing, "exported but on no panel"


def test_activity_is_filtered_wherever_the_metric_has_it(live: Live) -> None:
    assert live.exposition is not None
    for query in dashboard_queries(DASHBOARD):
        for metric, matchers in selectors(query.expr):
            if "activity" in live.exposition.labels.get(metric, frozenset()):
                assert 'activity=~"$activity"' in matchers, f"{query.where}: {metric}"


def test_variable_queries_list_the_activity_and_the_worker(live: Live) -> None:
    found = {}
    for name in ("job", "activity", "instance"):
        selector, label = label_values_query(variable_query(variables(DASHBOARD)[name]))
        # What Grafana asks Prometheus for a label_values() variable.
        found[name] = live.api(
            f"label/{label}/values", **{"match[]": substitute(selector, _all(live))}
        )
    assert found == {"job": [live.job], "activity": [live.activity], "instance": [live.instance]}


@pytest.mark.parametrize("fill", [_all, _chosen], ids=["all", "chosen"])
@pytest.mark.parametrize("title", list(PANELS))
def test_panel_returns_data(live: Live, title: str, fill: Any) -> None:
    for target in PANELS[title]["targets"]:
        expr = substitute(target["expr"], fill(live))
        try:
            result = live.query(expr)
        except PromQLError as exc:
            pytest.fail(f"{title} / {target['refId']}: Prometheus rejected {expr!r}: {exc}")
        values = [float(r["value"][1]) for r in result]
        assert values, f"{title} / {target['refId']}: no series for {expr!r}"
        assert any(math.isfinite(v) for v in values), f"{title} / {target['refId']}: only NaN"


def test_outcome_panels_count_what_happened(live: Live) -> None:
    by_outcome: dict[str, float] = {}
    by_error: dict[str, float] = {}
    for key, value in _series(live, "Tasks completed by outcome").items():
        labels = dict(key)
        by_outcome[labels["outcome"]] = by_outcome.get(labels["outcome"], 0.0) + value
        if labels["outcome"] == "failed":
            by_error[labels["error"]] = value
    # Failures split by what was reported: here only what the handler raised.
    assert by_error["ValueError"] > 0
    assert sum(by_error.values()) == by_error["ValueError"]
    assert by_outcome["succeeded"] > 0
    assert by_outcome["failed"] > 0
    for outcome in ("cancelled", "drained", "interrupted", "unreported"):
        assert by_outcome[outcome] == 0
    # The panel divides the failed rate by the rate of all outcomes. (Not exactly the 3 in 11
    # that failed: the failures' series starts at the warm-up's 1 where the others start at
    # 0, and rate() extrapolates a counter's window start only as far as it would stay >= 0.)
    ratio = _one(live, "Error ratio", activity=ACTIVITY)
    assert ratio == pytest.approx(by_outcome["failed"] / sum(by_outcome.values()), rel=0.01)
    assert 0 < ratio < 1
    # The counters themselves are exact, and the error label names what the handler raised.
    failed = live.query(f'fleet_tasks_completed_total{{activity="{ACTIVITY}", outcome="failed"}}')
    by_error = {r["metric"]["error"]: float(r["value"][1]) for r in failed}
    assert by_error.pop("ValueError") == FAILING + 1  # and the warm-up
    assert set(by_error.values()) == {0.0}  # Fleet.Timeout, Fleet.InvalidOutput, ...
    assert _one(live, "Tasks received and completed", "A") > 0


def test_latency_panels_show_the_tasks_durations(live: Live) -> None:
    p50 = _one(live, "Task duration (p50, p90, p99)", "A", activity=ACTIVITY)
    p99 = _one(live, "Task duration (p50, p90, p99)", "C", activity=ACTIVITY)
    # Most tasks slept 50 ms; the two that heartbeat slept 1.6 s: they are the p99. Durations
    # are at least what the handlers slept (a busy machine only adds), so the bounds are
    # one-sided and the short tasks are compared with the long ones of the same run.
    assert p99 > 1
    assert p50 < p99
    start_p50 = _one(live, "Schedule-to-start (p50, p90, p99)", "A", activity=ACTIVITY)
    assert start_p50 > 0
    mean_succeeded = _one(live, "Mean task duration by outcome", outcome="succeeded")
    slept = (SUCCEEDING - HEARTBEATING) * 0.05 + HEARTBEATING * 1.6
    assert mean_succeeded >= slept / SUCCEEDING


def test_heartbeat_and_api_panels_show_the_calls(live: Live) -> None:
    assert _one(live, "Heartbeats by result", result="ok") > 0
    assert _one(live, "Heartbeats by result", result="task_gone") == 0
    assert _one(live, "API calls by operation", operation="SendTaskFailure") > 0
    assert _one(live, "Throttled API calls", operation="GetActivityTask") == 0


def test_lifecycle_panels_show_one_ready_worker(live: Live) -> None:
    assert _one(live, "Workers: ready, draining, protected", "A") == 1  # scraped
    assert _one(live, "Workers: ready, draining, protected", "B") == 1  # ready
    assert _one(live, "Workers: ready, draining, protected", "C") == 0  # draining
    assert _one(live, "Worker state", instance=live.instance) == 1  # "ready"
    assert _one(live, "Task slot utilisation", "A", activity=ACTIVITY) == 0  # idle again
    assert _one(live, "Task slot utilisation", "C") == 0  # process-wide: idle polls are not work


def test_alert_expressions_select_the_workers_series(live: Live) -> None:
    exprs = {query.where: query.expr for query in alert_queries()}
    for name, expr in exprs.items():
        try:
            live.query(expr)
        except PromQLError as exc:
            pytest.fail(f"{name}: Prometheus rejected its expression: {exc}")
    # A quarter of the tasks failed: the failure-ratio condition holds (only `for` keeps it
    # from firing), which proves the rule matches the worker's real labels.
    failing = live.query(exprs["FleetTaskFailureRatioHigh"])
    assert [r["metric"] for r in failing] == [{"job": live.job, "activity": ACTIVITY}]
    # A healthy, ready worker.
    for name in ("FleetWorkerNotReady", "FleetDrainingTooLong", "FleetResultsUnreported"):
        assert live.query(exprs[name]) == [], name
