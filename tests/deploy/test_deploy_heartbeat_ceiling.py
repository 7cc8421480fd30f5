"""`deploy size` and the worker count heartbeats with one formula (fleet._quota)."""

from __future__ import annotations

import pytest
from deploy_support import EXAMPLE

from deploy.sizing import Sizing, size_stack
from deploy.stack import Stack, load_stack
from fleet import _quota
from fleet._heartbeat import HeartbeatScheduler
from fleet._metrics import Metrics
from fleet._settings import load_settings


def _stack(in_flight: int, heartbeat: int, *overrides: str) -> Stack:
    # λ = in_flight / 300 tasks/s of 300 s each: L_mean = in_flight (Little's law).
    return load_stack(
        EXAMPLE,
        [
            f"sizing.arrival_rate_per_second={in_flight / 300}",
            "sizing.duration_mean_seconds=300",
            "sizing.duration_p95_seconds=300",
            f"activities.0.heartbeat_seconds={heartbeat}",
            "activities.0.timeout_seconds=3600",
            *overrides,
        ],
    )


def _limits(sizing: Sizing) -> list[str]:
    return [f.limit for f in sizing.findings]


def test_the_ceiling_and_the_demand_are_the_worker_s() -> None:
    sizing = size_stack(_stack(26_000, 60))
    # The worker beats every 60 - 5 = 55 s: 26,000 / 55 = 472.7/s of 500; ceiling 27,500.
    assert sizing.heartbeats_per_second == pytest.approx(26_000 / 55)
    assert sizing.heartbeat_ceiling == 27_500 == _quota.ceiling("us-east-1", 60)
    assert sizing.inflight_mean == pytest.approx(26_000)
    assert "SendTaskHeartbeat rate" not in _limits(sizing)
    assert "heartbeat ceiling" in _limits(sizing)  # 95 % of the refill: a note
    # The same numbers the worker's scheduler uses for a task of HeartbeatSeconds 60.
    scheduler = HeartbeatScheduler(None, Metrics())  # type: ignore[arg-type]
    assert 60 - _quota.margin(60) == _quota.interval(60) == 55
    assert scheduler.schedule == "late"


def test_past_the_ceiling_size_warns_and_names_the_fixes() -> None:
    # Twice the refill at 20 s in a small region: ceiling 300 * 17.5 = 5,250; 10,500 in flight.
    sizing = size_stack(_stack(10_500, 20, 'region="eu-central-1"'))
    assert sizing.heartbeat_ceiling == 5_250
    assert sizing.heartbeats_per_second == pytest.approx(600)
    (finding,) = [f for f in sizing.findings if f.limit == "SendTaskHeartbeat rate"]
    assert finding.severity == "warning"
    needed = _quota.heartbeat_seconds_for(10_500, "eu-central-1")
    assert (
        _quota.ceiling("eu-central-1", needed)
        >= 10_500
        > _quota.ceiling("eu-central-1", needed - 1)
    )
    for fix in (f"heartbeat_seconds to ≥ {needed}", "quota increase", "another region"):
        assert fix in finding.message


def test_each_worker_gets_its_share_of_the_buckets(monkeypatch: pytest.MonkeyPatch) -> None:
    sizing = size_stack(_stack(26_000, 60))
    # FLEET_API_RATE = refill / max tasks, so the whole fleet at max scale stays within it.
    assert sizing.api_rate_per_task * sizing.tasks_max <= sizing.api_refill_per_second
    assert sizing.api_rate_per_task == pytest.approx(500 / sizing.tasks_max, abs=0.01)
    # The worker reads the value deploy writes into the task definition.
    monkeypatch.setenv("FLEET_API_RATE", f"{sizing.api_rate_per_task:g}")
    assert load_settings().api_rate == sizing.api_rate_per_task
