"""The Prometheus alert rules: valid, lint-clean, explained, and unit-tested both ways."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from dashboards_support import ALERT_TESTS, ALERTS, load_alerts, run_promtool

#: What the issue asks an operator to be paged or warned about, and the rule for each.
SYMPTOMS = {
    "tasks failing above a ratio": "FleetTaskFailureRatioHigh",
    "no task completed while tasks arrive": "FleetNoTaskCompleted",
    "slots full for a while": "FleetSlotsSaturated",
    "heartbeat failures": "FleetHeartbeatsFailing",
    "throttling": "FleetApiThrottled",
    "a worker not ready": "FleetWorkerNotReady",
    "draining too long": "FleetDrainingTooLong",
    "unreported results": "FleetResultsUnreported",
    "event-loop lag": "FleetEventLoopLagHigh",
    "a worker that stopped answering scrapes": "FleetWorkerDown",
    "a job with no worker left": "FleetWorkersGone",
    "polls failing for an activity": "FleetPollsFailing",
    "a partial outage: many polls failing": "FleetPollErrorsHigh",
    "heartbeats landing with little time left": "FleetHeartbeatSlackLow",
}


@pytest.fixture(scope="module")
def alerts() -> list[dict[str, Any]]:
    return load_alerts()


def test_rules_pass_promtool_check_with_every_lint() -> None:
    result = run_promtool("check", "rules", "--lint=all", "--lint-fatal", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass() -> None:
    result = run_promtool("test", "rules", str(ALERT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_symptom_has_an_alert(alerts: list[dict[str, Any]]) -> None:
    names = {rule["alert"] for rule in alerts}
    missing = {symptom: name for symptom, name in SYMPTOMS.items() if name not in names}
    assert not missing


def test_every_alert_is_named_labelled_and_has_a_runbook(alerts: list[dict[str, Any]]) -> None:
    names = [rule["alert"] for rule in alerts]
    assert len(names) == len(set(names))
    for rule in alerts:
        name = rule["alert"]
        assert re.fullmatch(r"Fleet([A-Z][a-z]+)+", name), name
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        annotations = rule["annotations"]
        assert annotations["summary"], name
        description = annotations["description"]
        # Runbook style: what it means, then what to do, naming where to look.
        assert "What to do:" in description, name
        assert len(description) >= 300, name
        assert "{{ $labels." in description, name


def test_every_alert_is_tested_firing_and_not_firing(alerts: list[dict[str, Any]]) -> None:
    cases = yaml.safe_load(ALERT_TESTS.read_text(encoding="utf-8"))
    firing: set[str] = set()
    silent: set[str] = set()
    for group in cases["tests"]:
        for case in group.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    names = {rule["alert"] for rule in alerts}
    assert names - firing == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested staying silent"


def test_a_wrong_expectation_fails_the_unit_tests(tmp_path: Any) -> None:
    # The unit tests compare labels and rendered annotations exactly: a threshold that no
    # longer fires the tested case must make them fail.
    text = ALERTS.read_text(encoding="utf-8").replace("> 0.05", "> 0.5")
    (tmp_path / "alerts.yml").write_text(text)
    (tmp_path / "alerts.test.yml").write_text(ALERT_TESTS.read_text(encoding="utf-8"))
    result = run_promtool("test", "rules", str(tmp_path / "alerts.test.yml"))
    assert result.returncode != 0
    assert "FleetTaskFailureRatioHigh" in result.stdout + result.stderr
