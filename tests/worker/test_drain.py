"""Draining with real signals to a real ``fleet run`` process: nothing is lost."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from support.fleet_process import fleet_process
from support.process import WorkerProcess, fleet_run, free_port
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
        worker.process.send_signal(signal.SIGTERM)
        status = await worker.exit_status(timeout=30)
    assert status == 0
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
    # The ten running when SIGTERM came finished on the first worker, within the budget (past
    # it they would have been failed back, and ActivityFailed is checked above).
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
        # The tasks sleep 60 s: a worker that waited for them would not be done by then.
        status = await worker.exit_status(timeout=30)
        took = time.monotonic() - sent
    assert status == 0
    assert took > 1.5  # waited until the budget's reserve (3 - 1 s), then failed back and left

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
        # Not the 55 s the first signal allowed, which is longer than this waits.
        worker.process.send_signal(signal.SIGTERM)
        status = await worker.exit_status(timeout=30)
    assert status == 0
    done = await finish_elsewhere(endpoint.endpoint_url, sfn, [name], arns)
    assert statuses(done) == {"SUCCEEDED"}


async def _naive_polls(emu: Emulator, activity_arn: str, count: int) -> None:
    """What a naive worker does on SIGTERM: start long polls, then cancel them.

    Returns once the endpoint holds the polls and has seen their clients go.
    """
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "AWSStepFunctions.GetActivityTask",
        "Authorization": DUMMY_AUTHORIZATION,
    }
    body = json.dumps({"activityArn": activity_arn, "workerName": "naive"})
    stats = emu.stats
    polls, abandoned = stats.requests["GetActivityTask"], stats.polls_abandoned
    async with aiohttp.ClientSession() as session, anyio.create_task_group() as tg:
        for _ in range(count):
            tg.start_soon(lambda: session.post(emu.endpoint_url, data=body, headers=headers))
        with anyio.fail_after(10):
            while stats.requests["GetActivityTask"] < polls + count:
                await anyio.sleep(0.02)
        tg.cancel_scope.cancel()  # the connections close; the polls stay on the server
    with anyio.fail_after(10):
        while stats.polls_abandoned < abandoned + count:
            await anyio.sleep(0.02)


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
            await _naive_polls(emu, naive_arn, 4)
            naive_runs = await start(sfn, naive_machine, [{}] * 4)
            with anyio.fail_after(10):
                while emu.stats.tasks_handed_to_closed_polls < 4:
                    await anyio.sleep(0.02)
            lost = emu.stats.tasks_handed_to_closed_polls
            assert lost == 4

            # Our worker drains with four polls in flight: the tasks they bring run there.
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
                workers = [e["activityStartedEventDetails"]["workerName"]
                           for e in events if e["type"] == "ActivityStarted"]  # fmt: skip
                assert workers == ["subprocess-worker"]  # one attempt, on the draining worker
                assert "ActivityFailed" not in event_types(events)
                assert "ActivityTimedOut" not in event_types(events)
            for arn in naive_runs:
                # Each sat with a dead poll until its heartbeat timeout.
                assert "ActivityTimedOut" in event_types(await history(sfn, arn))
    logs = worker.logs()
    assert sum(entry["message"] == "task succeeded" for entry in logs) == 4


STUBBORN = """
import anyio
from fleet import Fleet, Task

app = Fleet()


@app.activity({name!r})
async def stubborn(task: Task):
    if (task.attempt or 1) > 1:
        return "ok"
    # A handler that will not be cancelled: it shields ten minutes of work.
    with anyio.CancelScope(shield=True):
        await anyio.sleep(600)
"""


@pytest.mark.slow
async def test_a_handler_that_ignores_cancellation_is_failed_back_and_the_process_exits(
    tmp_path: Path, endpoint: Emulator, sfn: Any
) -> None:
    name = unique("Stubborn")
    _, machine = await create_machine(sfn, name, retry=[RETRY_FLEET], context=True)
    arns = await start(sfn, machine, [{}] * 3)
    async with fleet_process(
        tmp_path, STUBBORN.format(name=name), endpoint.endpoint_url,
        "--drain-seconds", "4", "--drain-reserve-seconds", "1",
    ) as worker:  # fmt: skip
        await worker.wait_ready()
        await worker.wait_for("fleet_tasks_in_flight", 3, activity=name)
        worker.process.send_signal(signal.SIGTERM)
        # Not the ten minutes the handlers would take: the budget's end.
        status = await worker.exit_status(timeout=60)
    assert status != 0  # handlers had to be abandoned
    logs = worker.logs()
    assert any(e["message"].startswith("drain budget spent") for e in logs)
    assert sum(e["message"] == "task interrupted: Fleet.Interrupted" for e in logs) == 3
    for arn in arns:
        failed = [e["activityFailedEventDetails"]["error"]
                  for e in await history(sfn, arn) if e["type"] == "ActivityFailed"]  # fmt: skip
        assert failed == ["Fleet.Interrupted"]  # sent at the reserve, handler or not
    done = await finish_elsewhere(endpoint.endpoint_url, sfn, [name], arns)
    assert statuses(done) == {"SUCCEEDED"}


LINGERING = """
import threading
from fleet import Fleet, Task

app = Fleet()
# A library that leaves a non-daemon thread behind: the interpreter's teardown joins it.
threading.Thread(target=threading.Event().wait, name="leftover").start()


@app.activity({name!r})
async def work(task: Task):
    return "ok"
"""


@pytest.mark.parametrize("how", ["sigterm", "batch"])
async def test_interpreter_teardown_does_not_keep_a_stopped_worker_alive(
    tmp_path: Path, endpoint: Emulator, sfn: Any, how: str
) -> None:
    name = unique("Teardown")
    await sfn.create_activity(name=name)
    (tmp_path / "lingering.py").write_text(LINGERING.format(name=name))
    port = free_port()
    extra = (
        ["--exit-when-idle", "0.5"]
        if how == "batch"
        else ["--drain-seconds", "3", "--drain-reserve-seconds", "1"]
    )
    process = await anyio.open_process(
        [sys.executable, "-m", "fleet._cli", "run", "lingering:app",
         "--endpoint-url", endpoint.endpoint_url, "--metrics-port", str(port),
         "--log-format", "json", *extra],
        env={**os.environ, "PYTHONPATH": str(tmp_path)}, cwd=tmp_path,
    )  # fmt: skip
    async with process:
        try:
            if how == "sigterm":
                worker = WorkerProcess(process, port)
                await worker.wait_ready()
                process.send_signal(signal.SIGTERM)
            with anyio.fail_after(60):  # without the fix: never, the thread is never joined
                status = await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
    assert status == 0


@pytest.mark.slow
async def test_a_drain_costs_a_task_at_most_one_attempt_with_two_workers(
    tmp_path: Path, make_endpoint: Any
) -> None:
    """Polls still open on the draining worker must not bounce a task from one to the next."""
    async with make_endpoint(long_poll_seconds=5.0) as emu, client(emu.endpoint_url) as sfn:
        name = unique("OneAttempt")
        _, machine = await create_machine(sfn, name, retry=[RETRY_FLEET], context=True)
        long_ones = await start(sfn, machine, [{"sleep": 60}] * 4)
        async with fleet_run(
            tmp_path, name, emu.endpoint_url, "--concurrency", "8",
            "--min-pollers", "4", "--max-pollers", "4",
            # The fail-back comes after the polls open at SIGTERM (5 s) have ended.
            "--drain-seconds", "8", "--drain-reserve-seconds", "1",
        ) as first:  # fmt: skip
            await first.wait_ready()
            await first.wait_in_flight(name, 4)
            with anyio.fail_after(10):
                while await first.metric("fleet_polls_in_flight", activity=name) < 4:
                    await anyio.sleep(0.05)
            first.process.send_signal(signal.SIGTERM)
            await anyio.sleep(0.3)
            # Two tasks for four open polls: failed back at once, each retry would find the
            # next open poll of the same draining worker.
            quick_ones = await start(sfn, machine, [{}] * 2)
            assert await first.exit_status(timeout=30) == 0
        runs = long_ones + quick_ones
        done = await finish_elsewhere(emu.endpoint_url, sfn, [name], runs)
        assert statuses(done) == {"SUCCEEDED"}
        failures = {}
        for arn in runs:
            failures[arn] = [e["activityFailedEventDetails"]["error"]
                             for e in await history(sfn, arn)
                             if e["type"] == "ActivityFailed"]  # fmt: skip
    assert all(len(failed) <= 1 for failed in failures.values()), failures
    # The two that arrived during the drain ran there, and cost no attempt at all.
    assert [failures[arn] for arn in quick_ones] == [[], []]
    assert [failures[arn] for arn in long_ones] == [["Fleet.Interrupted"]] * 4


async def test_after_a_drain_metrics_answer_until_scraped_with_the_final_outcomes(
    tmp_path: Path, endpoint: Emulator, sfn: Any
) -> None:
    name = unique("Linger")
    _, machine = await create_machine(sfn, name, retry=[RETRY_FLEET], context=True)
    await start(sfn, machine, [{"sleep": 60}] * 4)
    async with fleet_process(
        tmp_path, SLEEPY.format(name=name), endpoint.endpoint_url,
        "--drain-seconds", "30", "--drain-reserve-seconds", "29",
        "--metrics-linger-seconds", "25",
    ) as worker:  # fmt: skip
        await worker.wait_ready()
        await worker.wait_for("fleet_tasks_in_flight", 4, activity=name)
        worker.process.send_signal(signal.SIGTERM)
        with anyio.fail_after(20):
            while not any(e["message"].startswith("drained; /metrics") for e in worker.logs()):
                await anyio.sleep(0.05)
        # The drain is over and reported; the process is still there for one more scrape.
        assert worker.process.returncode is None
        interrupted = await worker.sample(
            "fleet_tasks_completed_total", activity=name, outcome="interrupted"
        )
        assert interrupted == 4
        status = await worker.exit_status(timeout=20)  # that scrape ends the linger
    assert status == 0


SLEEPY = """
import anyio
from fleet import Fleet, Task

app = Fleet()


@app.activity({name!r})
async def sleepy(task: Task):
    if (task.attempt or 1) == 1:
        await anyio.sleep(task.input.get("sleep", 0))
    return "ok"
"""


async def test_the_linger_never_outlasts_the_drain_budget(endpoint: Emulator, sfn: Any) -> None:
    app = Fleet()
    name = unique("Bounded")

    @app.activity(name)
    async def work(task: Task) -> str:
        return "ok"

    await sfn.create_activity(name=name)
    async with running_worker(
        app, endpoint.endpoint_url, drain_seconds=3.0, drain_reserve_seconds=1.0,
        metrics_linger_seconds=120.0,
    ) as worker:  # fmt: skip
        assert worker.sup is not None
        worker.sup.drain("test")
        with anyio.fail_after(60):  # nobody scrapes: the budget, not the 120 s, ends it
            while worker.status is None:
                await anyio.sleep(0.05)
    assert worker.status == 0
