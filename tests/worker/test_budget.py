"""FLEET_API_RATE: one budget that polls, heartbeats and reports all draw from."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from support.worker import client, create_machine, running_worker, start, unique, wait_done

from fleet import Fleet, Task, _limits
from fleet._budget import BUDGETED, Budget
from fleet.emulator import Emulator


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_each_api_has_its_own_bucket_at_the_process_share() -> None:
    clock = _Clock()
    budget = Budget(2.0, clock=clock)
    for operation in BUDGETED:
        assert budget.try_take(operation)
        assert budget.try_take(operation)
        assert not budget.try_take(operation)  # one second's worth, then empty
        assert budget.wait_seconds(operation) == 0.5
    clock.now = 0.5
    assert budget.try_take("SendTaskHeartbeat")
    assert not budget.try_take("SendTaskHeartbeat")
    assert budget.try_take("GetActivityTask")  # refilled on its own
    assert budget.try_take("DescribeActivity")  # start-up calls are not budgeted
    assert Budget(None).try_take("SendTaskSuccess")


async def test_a_call_gives_up_waiting_only_at_its_deadline() -> None:
    clock = _Clock()
    budget = Budget(1.0, clock=clock)
    assert await budget.acquire("SendTaskSuccess", deadline=0.0)
    # Empty now; the next token is a second away, past a deadline half a second away.
    assert not await budget.acquire("SendTaskSuccess", deadline=0.5)
    clock.now = 1.0
    assert await budget.acquire("SendTaskSuccess", deadline=1.0)


@pytest.mark.slow
async def test_polls_heartbeats_and_reports_of_a_process_stay_within_its_share(
    endpoint: Emulator, sfn: Any
) -> None:
    app = Fleet()
    name = unique("Budget")
    # Unbudgeted, 30 polls and 30 reports take well under a second; at 10/s each takes 2 s.
    rate = 10.0
    tasks = 30

    @app.activity(name, heartbeat_seconds=2.0)
    async def work(task: Task) -> int:
        await anyio.sleep(1.6)  # past the first beat at 1.4 s
        return 1

    _, machine = await create_machine(sfn, name, heartbeat=30)
    arns = await start(sfn, machine, [{}] * tasks)
    began = anyio.current_time()
    async with running_worker(
        app, endpoint.endpoint_url, api_rate=rate, concurrency=tasks, max_pollers=tasks
    ) as worker:
        done = await wait_done(sfn, arns, timeout=60)
    elapsed = anyio.current_time() - began

    assert {d["status"] for d in done.values()} == {"SUCCEEDED"}
    assert worker.value("fleet_tasks_completed_total", activity=name, outcome="succeeded") == tasks
    assert worker.value("fleet_heartbeats_total", activity=name, result="ok") >= 1
    calls = endpoint.stats.requests
    for operation in ("GetActivityTask", "SendTaskHeartbeat", "SendTaskSuccess"):
        # Never more than the share per second, plus the one second's burst it starts with.
        assert calls[operation] <= rate * elapsed + rate, (operation, calls[operation], elapsed)


@pytest.mark.slow
async def test_a_throttled_report_keeps_trying_while_the_task_s_window_is_open(
    make_endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The endpoint's SendTaskSuccess bucket: one token, then one every 2 s. Three results
    # reported together need 4 s, far past FLEET_REPORT_DEADLINE_SECONDS (0.5 s here) but
    # inside the 10 s heartbeat window, during which the service still takes a result.
    monkeypatch.setitem(_limits.API_QUOTAS, "SendTaskSuccess", ((1, 0.5), (1, 0.5)))
    app = Fleet()
    name = unique("SlowReports")
    tasks = 3

    @app.activity(name, heartbeat_seconds=10.0)
    async def work(task: Task) -> int:
        return 1

    async with make_endpoint(throttle="large") as emu, client(emu.endpoint_url) as sfn:
        _, machine = await create_machine(sfn, name, heartbeat=10)
        arns = await start(sfn, machine, [{}] * tasks)
        async with running_worker(
            app, emu.endpoint_url, concurrency=tasks, min_pollers=tasks, max_pollers=tasks,
            report_deadline_seconds=0.5,
        ) as worker:  # fmt: skip
            done = await wait_done(sfn, arns, timeout=30)
        throttled = emu.stats.throttled["SendTaskSuccess"]

    assert throttled >= 1
    assert {d["status"] for d in done.values()} == {"SUCCEEDED"}
    assert worker.value("fleet_tasks_completed_total", activity=name, outcome="succeeded") == tasks
    assert worker.value("fleet_tasks_completed_total", activity=name, outcome="unreported") == 0
