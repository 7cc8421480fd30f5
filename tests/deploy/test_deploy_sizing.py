"""Sizing against worked examples computed by hand (arithmetic in the comments)."""

from __future__ import annotations

import pytest
from deploy_support import EXAMPLE

from deploy.fargate import TaskSize, blended_hourly_price, hourly_price, is_valid, valid_sizes
from deploy.sizing import Sizing, size_stack, slots_for
from deploy.stack import Stack, load_stack

# arm64: $0.03238 per vCPU-hour, $0.00356 per GB-hour; x86_64: $0.04048 and $0.004445.


def _stack(*overrides: str) -> Stack:
    return load_stack(EXAMPLE, list(overrides))


def _finding(sizing: Sizing, limit: str) -> str:
    found = [f for f in sizing.findings if f.limit == limit]
    assert len(found) == 1, [f.limit for f in sizing.findings]
    return found[0].message


def test_valid_fargate_sizes() -> None:
    sizes = valid_sizes()
    assert len(sizes) == 3 + 4 + 7 + 13 + 23 + 12 + 12
    assert is_valid(256, 2048)
    assert not is_valid(256, 4096)
    assert is_valid(4096, 30720)
    assert not is_valid(8192, 18432)  # 8 vCPU takes memory in 4 GB steps
    assert is_valid(16384, 122880)


def test_prices() -> None:
    # 1 vCPU / 2 GB on x86_64: 0.04048 + 2 * 0.004445 = 0.04937 per hour.
    assert hourly_price(TaskSize(1024, 2048), "x86_64") == pytest.approx(0.04937)
    # Half on Spot at a 70 % discount: 0.04937 * (1 - 0.5 * 0.7) = 0.0320905.
    assert blended_hourly_price(TaskSize(1024, 2048), "x86_64", 0.5, 0.7) == pytest.approx(
        0.0320905
    )


def test_example_stack_worked_example() -> None:
    sizing = size_stack(_stack())
    # λ = 2/s, W_mean = 1 s, W_p95 = 3 s, U = 0.7:
    # L_mean = 2 * 1 = 2; L_p95 = 2 * 3 = 6; C = ceil(6 / 0.7) = ceil(8.57) = 9.
    load = sizing.activities[0]
    assert load.inflight_mean == pytest.approx(2.0)
    assert load.inflight_p95 == pytest.approx(6.0)
    assert sizing.concurrency == 9
    # 0.25 vCPU / 512 MiB: min(floor((0.25 - 0.05) / 0.01), floor((512 - 256) / 16), 256)
    # = min(20, 16, 256) = 16 slots >= 9, so one task of the cheapest size there is.
    assert (sizing.cpu, sizing.memory, sizing.slots_per_task) == (256, 512, 16)
    # min_tasks 1; desired max(1, ceil(9 / 16)) = 1; max = 2 * 1 = 2.
    assert (sizing.tasks_min, sizing.tasks_desired, sizing.tasks_max) == (1, 1, 2)
    # max pollers = min(16 slots, floor(1000 / 2) = 500, ceil(100 / 1) = 100) = 16; min = 8.
    assert (sizing.min_pollers_per_task, sizing.max_pollers_per_task) == (8, 16)
    # polls = 2 + 1 * 16 / 60 = 2.2667/s; results 2/s; heartbeats = 2 / (60 - 5) = 0.0364/s.
    assert sizing.polls_per_second == pytest.approx(2 + 16 / 60)
    assert sizing.results_per_second == pytest.approx(2.0)
    assert sizing.heartbeats_per_second == pytest.approx(2 / 55)
    assert sizing.api_refill_per_second == 500
    # arm64: 0.25 * 0.03238 + 0.5 * 0.00356 = 0.008095 + 0.00178 = 0.009875 per hour;
    # x86_64: 0.25 * 0.04048 + 0.5 * 0.004445 = 0.01012 + 0.0022225 = 0.0123425;
    # Spot share 0.5, but the one task is the strategy's on-demand base: no Spot discount.
    assert sizing.cost_per_hour["arm64"] == pytest.approx(0.009875)
    assert sizing.cost_per_hour["x86_64"] == pytest.approx(0.0123425)
    assert sizing.cost_per_hour["blended"] == pytest.approx(0.009875)
    # Per million tasks: 0.009875 / (2 * 3600) * 1e6 = 1.3715.
    assert sizing.cost_per_million_tasks["arm64"] == pytest.approx(1.37152777)
    # Only the "fewer than 100 open polls" recommendation: 16 open polls.
    assert [f.severity for f in sizing.findings] == ["note"]
    assert "16 open polls" in sizing.findings[0].message


def test_memory_bound_handler_picks_the_cheapest_size_and_breaks_ties_to_fewer_tasks() -> None:
    sizing = size_stack(
        _stack(
            'architecture="x86_64"',
            "sizing.arrival_rate_per_second=1",
            "sizing.duration_mean_seconds=7",
            "sizing.duration_p95_seconds=7",
            "sizing.vcpu_per_inflight=0.02",
            "sizing.memory_mib_per_inflight=700",
            "sizing.spot_share=0",
        )
    )
    # C = ceil(1 * 7 / 0.7) = 10. Memory bounds the slots: floor((MiB - 256) / 700).
    # Cheapest size for each task count (x86_64 $/h):
    #   1 task needs 10 slots -> 7256 MiB -> 1 vCPU / 8 GB: 0.04048 + 8 * 0.004445 = 0.07604
    #   2 tasks need 5 slots  -> 3756 MiB -> 0.5 vCPU / 4 GB: 2 * (0.02024 + 0.01778) = 0.07604
    #   3 tasks need 4 slots  -> 3056 MiB -> 0.5 vCPU / 3 GB: 3 * 0.033575 = 0.100725
    #   5 tasks need 2 slots  -> 1656 MiB -> 0.25 vCPU / 2 GB: 5 * 0.01901 = 0.09505
    #  10 tasks need 1 slot   -> 956 MiB  -> 0.25 vCPU / 1 GB: 10 * 0.014565 = 0.14565
    # The two cheapest tie at 0.07604; the tie goes to fewer tasks.
    assert sizing.concurrency == 10
    assert (sizing.cpu, sizing.memory) == (1024, 8192)
    # min(floor(0.95 / 0.02) = 47, floor(7936 / 700) = 11, 256) = 11 slots.
    assert sizing.slots_per_task == 11
    assert sizing.tasks_desired == 1
    assert sizing.cost_per_hour["x86_64"] == pytest.approx(0.07604)
    assert slots_for(TaskSize(512, 4096), _stack("sizing.memory_mib_per_inflight=700")) == 5


def test_heartbeat_quota_is_broken_in_a_small_region_only() -> None:
    overrides = (
        "sizing.arrival_rate_per_second=20",
        "sizing.duration_mean_seconds=60",
        "sizing.duration_p95_seconds=90",
        "activities.0.heartbeat_seconds=4",
        "activities.0.timeout_seconds=600",
    )
    # L_mean = 20 * 60 = 1200 in flight; a beat every 4 - 0.6 = 3.4 s: 352.9/s.
    large = size_stack(_stack(*overrides))
    assert large.heartbeats_per_second == pytest.approx(1200 / 3.4)
    assert large.api_refill_per_second == 500
    assert not [f for f in large.findings if f.limit == "SendTaskHeartbeat rate"]

    small = size_stack(_stack(*overrides, 'region="eu-central-1"'))
    assert small.api_refill_per_second == 300
    # 353 > 300; ceiling at 4 s = floor(300 * 3.4) = 1,020; at 5 s, 300 * 4.375 = 1,312 >= 1200.
    assert small.heartbeat_ceiling == 1020
    assert _finding(small, "SendTaskHeartbeat rate") == (
        "heartbeat rate 353/s exceeds the SendTaskHeartbeat refill of 300/s in eu-central-1: "
        "1,200 tasks in flight against a ceiling of 1,020 at HeartbeatSeconds 4; tasks will "
        "time out. Raise heartbeat_seconds to ≥ 5 (activities[].heartbeat_seconds), request a "
        "SendTaskHeartbeat quota increase, or split the work across another region or account"
    )
    fixed = size_stack(
        _stack(*overrides, 'region="eu-central-1"', "activities.0.heartbeat_seconds=5")
    )
    assert fixed.heartbeats_per_second == pytest.approx(1200 / 4.375)
    assert not [f for f in fixed.findings if f.limit == "SendTaskHeartbeat rate"]


def test_poller_limit_of_1000_per_activity() -> None:
    # Pinned pollers: 30 tasks * 50 pollers = 1,500 concurrent polls > 1,000.
    sizing = size_stack(_stack("sizing.max_pollers_per_task=50", "sizing.max_tasks=30"))
    assert sizing.activities[0].fleet_pollers_max == 1500
    # Fixes: floor(1000 / 30) = 33 pollers per task, or floor(1000 / 50) = 20 tasks.
    message = _finding(sizing, "pollers per activity")
    assert "30 tasks * 50 pollers = 1500 concurrent GetActivityTask calls" in message
    assert "set sizing.max_pollers_per_task ≤ 33 or sizing.max_tasks ≤ 20" in message


def test_automatic_pollers_stay_within_the_limit_at_max_scale() -> None:
    sizing = size_stack(_stack("sizing.max_tasks=400"))
    # floor(1000 / 400) = 2 pollers per task; 400 * 2 = 800 <= 1,000.
    assert sizing.max_pollers_per_task == 2
    assert sizing.activities[0].fleet_pollers_max == 800
    assert not [f for f in sizing.findings if f.limit == "pollers per activity"]


def test_batch_worked_example() -> None:
    sizing = size_stack(
        _stack(
            'mode="batch"',
            "sizing.tasks_per_run=1200",
            "sizing.deadline_seconds=3600",
            "sizing.duration_mean_seconds=20",
            "sizing.duration_p95_seconds=60",
            "sizing.spot_share=0",
        )
    )
    # λ = 1200 / (3600 - 60) = 0.338983/s; L_p95 = 0.338983 * 60 = 20.339;
    # C = ceil(20.339 / 0.7) = ceil(29.06) = 30.
    assert sizing.activities[0].arrival_rate_per_second == pytest.approx(1200 / 3540)
    assert sizing.concurrency == 30
    # 1 task needs 30 slots: 0.5 vCPU / 1 GB (min(45, 48) = 45 slots) = 0.01975 $/h (arm64);
    # 2 tasks of 0.25 vCPU / 0.5 GB (16 slots each) = 2 * 0.009875 = 0.01975: a tie -> 1 task.
    assert (sizing.cpu, sizing.memory, sizing.slots_per_task) == (512, 1024, 45)
    assert (sizing.tasks_min, sizing.tasks_desired, sizing.tasks_max) == (0, 1, 1)
    # A run: 1200 * 20 s of work / 45 slots = 533.3 s, plus 60 s idle before exit = 593.3 s.
    assert sizing.run_seconds == pytest.approx(1200 * 20 / 45 + 60)
    # Per run: 0.01975 * 593.33 / 3600 = 0.0032551 $; per million: / 1200 * 1e6 = 2.7126 $.
    assert sizing.cost_per_run == pytest.approx(0.01975 * (1200 * 20 / 45 + 60) / 3600)
    assert sizing.cost_per_million_tasks["arm64"] == pytest.approx(2.71258, rel=1e-4)
    assert not sizing.errors


def test_batch_run_larger_than_one_schedule_target_is_an_error() -> None:
    sizing = size_stack(
        _stack(
            'mode="batch"',
            "sizing.tasks_per_run=20000",
            "sizing.deadline_seconds=3600",
            "sizing.duration_mean_seconds=20",
            "sizing.duration_p95_seconds=60",
            "sizing.task_cpu=256",
            "sizing.task_memory=512",
        )
    )
    # λ = 20000 / 3540 = 5.6497/s; L_p95 = 338.98; C = ceil(484.26) = 485;
    # 16 slots per 0.25 vCPU / 512 MiB task -> ceil(485 / 16) = 31 tasks > 10 per RunTask.
    assert sizing.concurrency == 485
    assert sizing.tasks_desired == 31
    assert [f.limit for f in sizing.errors] == ["tasks per run"]
    assert "31 tasks per run exceed the 10 tasks one schedule target can start" in (
        sizing.errors[0].message
    )


def test_deadline_shorter_than_p95_is_an_error() -> None:
    sizing = size_stack(
        _stack(
            'mode="batch"',
            "sizing.tasks_per_run=10",
            "sizing.deadline_seconds=30",
            "sizing.duration_p95_seconds=60",
        )
    )
    assert "deadline_seconds (30) must exceed duration_p95_seconds (60)" in sizing.errors[0].message


def test_spot_cost_keeps_the_on_demand_base_task() -> None:
    # 5 tasks, Spot share 0.5 at 70 % off: 1 on-demand base + 4 * (1 - 0.35) task-prices.
    sizing = size_stack(_stack("sizing.min_tasks=5"))
    assert sizing.tasks_desired == 5
    assert sizing.cost_per_hour["blended"] == pytest.approx(0.009875 * (1 + 4 * 0.65))
    all_spot = size_stack(_stack("sizing.min_tasks=5", "sizing.spot_share=1"))
    assert all_spot.cost_per_hour["blended"] == pytest.approx(0.009875 * 5 * 0.3)


def test_long_tasks_on_spot_and_short_timeouts_warn() -> None:
    sizing = size_stack(
        _stack("sizing.duration_mean_seconds=300", "sizing.duration_p95_seconds=1200")
    )
    assert "failed back with Fleet.Interrupted" in _finding(sizing, "drain budget")
    # timeout 900 s < p95 1200 s: raise to 2 * 1200 = 2400.
    assert "raise activities[0].timeout_seconds to ≥ 2400" in _finding(sizing, "task timeout")


def test_no_size_fits_a_huge_in_flight_task() -> None:
    sizing = size_stack(_stack("sizing.vcpu_per_inflight=16"))
    assert sizing.errors[0].limit == "Fargate task size"


def test_size_cli_prints_tables_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    from deploy.__main__ import main

    assert main(["size", "--stack", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "slots per task (FLEET_CONCURRENCY)" in out
    assert "0.25 vCPU / 0.5 GB (256 / 512)" in out
    assert main(["size", "--stack", str(EXAMPLE), "--json"]) == 0
    import json

    data = json.loads(capsys.readouterr().out)
    assert data["tasks_desired"] == 1
    assert data["cost_per_hour"]["arm64"] == pytest.approx(0.009875)
