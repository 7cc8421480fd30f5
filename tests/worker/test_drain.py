"""Draining with real signals to a real ``fleet run`` process: nothing is lost."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from anyio.abc import Process
from conftest import client
from worker_support import (
    RETRY_FLEET,
    RETRY_TIMEOUT,
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

APP_SOURCE = """
import anyio
from fleet import Fleet, Task

app = Fleet()


@app.activity({name!r}, heartbeat_seconds=1.0)
async def work(task: Task) -> dict:
    # The first attempt sleeps as long as the input says; retries finish at once.
    if (task.attempt or 1) == 1:
        await anyio.sleep(task.input.get("sleep", 0))
    return {{"attempt": task.attempt}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class WorkerProcess:
    """A ``fleet run`` subprocess, its metrics port and what it logged."""

    def __init__(self, process: Process, port: int) -> None:
        self.process = process
        self.port = port
        self.lines: list[str] = []

    async def metric(self, name: str, **labels: str) -> float:
        from prometheus_client.parser import text_string_to_metric_families

        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{self.port}/metrics") as response:
                text = await response.text()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return float(sample.value)
        raise KeyError(name)

    async def wait_ready(self, timeout: float = 20.0) -> None:
        with anyio.fail_after(timeout):
            while True:
                try:
                    async with aiohttp.ClientSession() as session:
                        url = f"http://127.0.0.1:{self.port}/readyz"
                        async with session.get(url) as response:
                            if response.status == 200:
                                return
                except aiohttp.ClientError:
                    pass
                if self.process.returncode is not None:
                    raise RuntimeError("worker exited:\n" + "\n".join(self.lines))
                await anyio.sleep(0.1)

    async def wait_in_flight(self, activity: str, count: int, timeout: float = 20.0) -> None:
        with anyio.fail_after(timeout):
            while await self.metric("fleet_tasks_in_flight", activity=activity) < count:
                await anyio.sleep(0.05)

    async def exit_status(self, timeout: float) -> int:
        with anyio.fail_after(timeout):
            return await self.process.wait()

    def logs(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines if line.startswith("{")]


@asynccontextmanager
async def fleet_run(
    tmp_path: Path, activity: str, endpoint_url: str, *args: str
) -> AsyncIterator[WorkerProcess]:
    """Start ``fleet run`` on a generated app module; kill it if the test leaves it running."""
    module = f"drainapp_{activity.replace('-', '_').lower()}"
    (tmp_path / f"{module}.py").write_text(APP_SOURCE.format(name=activity))
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    command = [
        sys.executable, "-m", "fleet._cli", "run", f"{module}:app",
        "--endpoint-url", endpoint_url, "--metrics-port", str(port),
        "--worker-name", "subprocess-worker", "--log-format", "json", *args,
    ]  # fmt: skip
    process = await anyio.open_process(command, env=env, cwd=tmp_path)
    worker = WorkerProcess(process, port)

    async def collect() -> None:
        assert process.stderr is not None
        buffer = b""
        async for chunk in process.stderr:
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            worker.lines.extend(line.decode() for line in complete)

    async with anyio.create_task_group() as tg:
        tg.start_soon(collect)
        try:
            yield worker
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()
            tg.cancel_scope.cancel()
    await process.aclose()


def statuses(done: dict[str, dict[str, Any]]) -> set[str]:
    return {d["status"] for d in done.values()}


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

    second = Fleet()

    @second.activity(name)
    async def finish(task: Task) -> dict[str, Any]:
        return {"attempt": task.attempt}

    async with running_worker(second, endpoint.endpoint_url):
        done = await wait_done(sfn, arns, timeout=30)
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

    second = Fleet()

    @second.activity(name)
    async def finish(task: Task) -> dict[str, Any]:
        return {"attempt": task.attempt}

    async with running_worker(second, endpoint.endpoint_url):
        done = await wait_done(sfn, arns, timeout=30)
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
    second = Fleet()

    @second.activity(name)
    async def finish(task: Task) -> None:
        return None

    async with running_worker(second, endpoint.endpoint_url):
        done = await wait_done(sfn, arns, timeout=30)
    assert statuses(done) == {"SUCCEEDED"}


async def _naive_polls(endpoint_url: str, activity_arn: str, count: int) -> None:
    """What a naive worker does on SIGTERM: start long polls, then cancel them."""
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "AWSStepFunctions.GetActivityTask",
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

            second = Fleet()

            @second.activity(name)
            async def careful(task: Task) -> None:
                return None

            @second.activity(naive_name)
            async def naive(task: Task) -> None:
                return None

            async with running_worker(second, emu.endpoint_url):
                done = await wait_done(sfn, runs + naive_runs, timeout=30)
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
