"""Executions stopped while their tasks run in a real ``fleet run`` process: each handler is
cancelled within one heartbeat, its slot is freed, and nothing is reported for it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reliability_support import HEARTBEAT_REAL, RETRY_REAL, machine, show, stop, wait_completed
from support.faults import assert_nothing_lost
from support.fleet_process import fleet_process
from support.worker import client, start, unique

STOPPABLE = """
import anyio
from fleet import Fleet, Task

app = Fleet()


@app.activity({name!r}, heartbeat_seconds=1.0)
async def work(task: Task) -> dict:
    if task.input.get("raise") and task.attempt == 1:
        raise ValueError("the first attempt fails")
    try:
        await anyio.sleep(task.input.get("sleep", 0))
    except anyio.get_cancelled_exc_class():
        task.log.info("handler cancelled")
        raise
    return {{"attempt": task.attempt}}
"""


def logged_at(entry: dict[str, Any]) -> float:
    return datetime.strptime(entry["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


async def test_stopped_executions_cancel_their_handlers_within_one_heartbeat(
    tmp_path: Path, make_endpoint: Any, issued_tokens: list[str]
) -> None:
    name = unique("Stop")
    async with make_endpoint() as emu, client(emu.endpoint_url) as sfn:
        arn = await machine(sfn, name)
        # Debug logging: every line a worker can write about a task is checked for tokens.
        async with fleet_process(
            tmp_path, STOPPABLE.format(name=name), emu.endpoint_url, "--concurrency", "16",
            log_level="DEBUG",
        ) as worker:  # fmt: skip
            await worker.wait_ready()
            long = await start(sfn, arn, [{"sleep": 60}] * 8)
            await worker.wait_for("fleet_tasks_in_flight", 8, activity=name)
            stopped_at = time.time()
            for execution in long:
                await sfn.stop_execution(executionArn=execution, error="Operator", cause="no")
            others = await start(sfn, arn, [{"sleep": 0.1}] * 4 + [{"raise": True}] * 4)
            await wait_completed(worker, name, 8 + 8 + 4, timeout=20)
            live = await worker.scrape()
            report = await stop(worker)
        ledger = await assert_nothing_lost(
            sfn,
            long + others,
            [report],
            heartbeat_seconds=HEARTBEAT_REAL,
            retry_seconds=RETRY_REAL,
            stopped=long,
            tokens=issued_tokens,
        )
    assert ledger.workers[worker.name] == {
        "received": 20, "cancelled": 8, "succeeded": 8, "failed": 4,
    }  # fmt: skip
    # The stopped tasks' slots were freed: only polls in flight hold slots now.
    series = (("activity", name),)
    assert live[("fleet_tasks_in_flight", series)] == 0
    assert live[("fleet_slots_in_use", series)] == live[("fleet_polls_in_flight", series)]
    assert report.total("fleet_heartbeats_total", result="task_gone") == 8
    assert report.total("fleet_api_requests_total", operation="SendTaskSuccess") == 8
    assert report.total("fleet_api_requests_total", operation="SendTaskFailure") == 4
    cancelled = [logged_at(e) - stopped_at for e in worker.logs()
                 if e["message"] == "handler cancelled"]  # fmt: skip
    # A heartbeat goes out every ~0.8 s; the first after the stop finds the task gone (one
    # task_gone per task, above) and cancels the handler, long before its 60 s sleep ends.
    assert len(cancelled) == 8
    assert min(cancelled) > 0
    # The logs name each task by a hash of its token, never by the token.
    hashes = {e.get("token") for e in worker.logs()} - {None}
    assert len(hashes) == 20  # every task's outcome line names it by its hash
    assert all(len(h) == 12 for h in hashes)
    numbers = {"cancel_seconds_max": round(max(cancelled), 2), "log_lines": len(worker.lines)}
    show("stop execution", {**ledger.summary(), **numbers})
