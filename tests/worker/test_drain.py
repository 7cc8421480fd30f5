"""Draining with real signals to a real ``fleet run`` process: nothing is lost."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from support.process import fleet_run
from support.sigv4 import DUMMY_AUTHORIZATION
from support.worker import (
    RETRY_FLEET,
    RETRY_TIMEOUT,
    client,
    create_machine,
    event_types,
    history,
    running_worker,
    start,
    unique,
    wait_done,
)

from fleet import Fleet, Task
from fleet.emulator import Emulator


def statuses(done: dict[str, dict[str, Any]]) -> set[str]:
    return {d["status"] for d in done.values()}


async def finish_elsewhere(
    endpoint_url: str, sfn: Any, activities: list[str], arns: list[str]
) -> dict[str, dict[str, Any]]:
    """Run a second worker (no waiting on any attempt) until every execution has ended."""
    second = Fleet()
    for name in activities:

        @second.activity(name)
        async def finish(task: Task) -> dict[str, Any]:
            return {"attempt": task.attempt}

    async with running_worker(second, endpoint_url):
        return await wait_done(sfn, arns, timeout=30)


async def test_sigterm_lets_running_tasks_finish_and_loses_nothing(
    tmp_path: Path, endpoint: Emulator, sfn: Any
) -> None:
    name = unique("Drain")
    _, machine = await create_machine(
        sfn, name, heartbeat=5, retry=[RETRY_FLEET, RETRY_TIMEOUT], context=True
    )
    arns = await start(sfn, machine, [{"sleep": 1.5}] * 30)
    async with fleet_run(
        tmp_path, name, endpoint.endpoint_url,
        "--concurrency", "10", "--drain-seconds", "6", "--drain-reserve-seconds", "2",
    ) as worker:  # fmt: skip
        await worker.wait_ready()
        await worker.wait_in_flight(name, 10)
        sent = time.monotonic()
        worker.process.send_signal(signal.SIGTERM)
        status = await worker.exit_status(timeout=15)
        took = time.monotonic() - sent
    assert status == 0
    assert took < 6 + 1.0  # well within the budget plus a small margin
    logs = worker.logs()
    assert any("draining" in entry["message"] for entry in logs)

    done = await finish_elsewhere(endpoint.endpoint_url, sfn, [name], arns)
    assert statuses(done) == {"SUCCEEDED"}
    on_first = 0
    for arn in arns:
        events = await history(sfn, arn)
        types = event_types(events)
        assert "ActivityTimedOut" not in types
        assert "ActivityFailed" not in types
        workers = [e["activityStartedEventDetails"]["workerName"]
                   for e in events if e["type"] == "ActivityStarted"]  # fmt: skip
        assert len(workers) == 1  # each task ran once, on one worker
        on_first += workers == ["subprocess-worker"]
    # The ten running when SIGTERM came finished on the first worker, within the budget.
    assert on_first == 10


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_tasks_past_the_budget_are_failed_back_and_finish_elsewhere(
    tmp_path: Path, endpoint: Emulator, sfn: Any, signum: signal.Signals
) -> None:
    name = unique("Interrupt")
    _, machine = await create_machine(
        sfn, name, heartbeat=5, retry=[RETRY_FLEET, RETRY_TIMEOUT], context=True
    )
    arns = await start(sfn, machine, [{"sleep": 60}] * 8)
    async with fleet_run(
        tmp_path, name, endpoint.endpoint_url,
        "--concurrency", "8", "--drain-seconds", "3", "--drain-reserve-seconds", "1",
    ) as worker:  # fmt: skip
        await worker.wait_ready()
        await worker.wait_in_flight(name, 8)
        sent = time.monotonic()
        worker.process.send_signal(signum)
        status = await worker.exit_status(timeout=10)
        took = time.monotonic() - sent
    assert status == 0
    assert 1.5 < took < 3 + 1.0  # waited for the reserve, then failed back and left

    done = await finish_elsewhere(endpoint.endpoint_url, sfn, [name], arns)
    assert statuses(done) == {"SUCCEEDED"}
    for arn in arns:
        events = await history(sfn, arn)
        failures = [
            e["activityFailedEventDetails"] for e in events if e["type"] == "ActivityFailed"
        ]
        assert [f["error"] for f in failures] == ["Fleet.Interrupted"]
        assert json.loads(failures[0]["cause"])["worker"] == "subprocess-worker"
        assert "ActivityTimedOut" not in event_types(events)


async def test_a_second_signal_skips_to_the_fail_back(
    tmp_path: Path, endpoint: Emulator, sfn: Any
) -> None:
    name = unique("Twice")
    _, machine = await create_machine(sfn, name, heartbeat=5, retry=[RETRY_FLEET], context=True)
    arns = await start(sfn, machine, [{"sleep": 60}] * 4)
    async with fleet_run(
        tmp_path, name, endpoint.endpoint_url,
        "--concurrency", "4", "--drain-seconds", "60", "--drain-reserve-seconds", "5",
    ) as worker:  # fmt: skip
        await worker.wait_ready()
        await worker.wait_in_flight(name, 4)
        worker.process.send_signal(signal.SIGTERM)
        await anyio.sleep(0.5)
        sent = time.monotonic()
        worker.process.send_signal(signal.SIGTERM)
        status = await worker.exit_status(timeout=10)
        took = time.monotonic() - sent
    assert status == 0
    assert took < 2.0  # not the 55 s the first signal allowed
    done = await finish_elsewhere(endpoint.endpoint_url, sfn, [name], arns)
    assert statuses(done) == {"SUCCEEDED"}


async def _naive_polls(endpoint_url: str, activity_arn: str, count: int) -> None:
    """What a naive worker does on SIGTERM: start long polls, then cancel them."""
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "AWSStepFunctions.GetActivityTask",
        "Authorization": DUMMY_AUTHORIZATION,
    }
    body = json.dumps({"activityArn": activity_arn, "workerName": "naive"})
    async with aiohttp.ClientSession() as session, anyio.create_task_group() as tg:
        for _ in range(count):
            tg.start_soon(lambda: session.post(endpoint_url, data=body, headers=headers))
        await anyio.sleep(0.5)
        tg.cancel_scope.cancel()  # the connections close; the polls stay on the server


async def test_lost_poll_mode_the_drain_loses_nothing_where_cancelled_polls_do(
    tmp_path: Path, make_endpoint: Any
) -> None:
    async with make_endpoint(lost_polls=True, long_poll_seconds=3.0) as emu:
        async with client(emu.endpoint_url) as sfn:
            # A naive worker cancels its four polls: the next four tasks go to dead polls.
            naive_name = unique("Naive")
            naive_arn, naive_machine = await create_machine(
                sfn, naive_name, heartbeat=2, retry=[RETRY_TIMEOUT]
            )
            await _naive_polls(emu.endpoint_url, naive_arn, 4)
            naive_runs = await start(sfn, naive_machine, [{}] * 4)
            await anyio.sleep(0.2)
            lost = emu.stats.tasks_handed_to_closed_polls
            assert lost == 4

            # Our worker drains with four polls in flight: the tasks they bring are failed back.
            name = unique("Careful")
            _, machine = await create_machine(sfn, name, heartbeat=2, retry=[RETRY_FLEET])
            async with fleet_run(
                tmp_path, name, emu.endpoint_url, "--min-pollers", "4", "--max-pollers", "4",
                "--drain-seconds", "8", "--drain-reserve-seconds", "1",
            ) as worker:  # fmt: skip
                await worker.wait_ready()
                with anyio.fail_after(10):
                    while await worker.metric("fleet_polls_in_flight", activity=name) < 4:
                        await anyio.sleep(0.05)
                worker.process.send_signal(signal.SIGTERM)
                await anyio.sleep(0.3)
                runs = await start(sfn, machine, [{}] * 4)
                assert await worker.exit_status(timeout=10) == 0
            assert emu.stats.tasks_handed_to_closed_polls == lost  # none lost by the drain

            done = await finish_elsewhere(
                emu.endpoint_url, sfn, [name, naive_name], runs + naive_runs
            )
            assert statuses(done) == {"SUCCEEDED"}
            for arn in runs:
                events = await history(sfn, arn)
                failed = [e["activityFailedEventDetails"]["error"]
                          for e in events if e["type"] == "ActivityFailed"]  # fmt: skip
                assert failed == ["Fleet.Draining"]
                assert "ActivityTimedOut" not in event_types(events)
            for arn in naive_runs:
                # Each sat with a dead poll until its heartbeat timeout.
                assert "ActivityTimedOut" in event_types(await history(sfn, arn))
    logs = worker.logs()
    assert sum("failed back" in entry["message"] for entry in logs) == 4
