"""What the fault cases share: clock settings, the state machine, the apps, a rescuing worker.

Every case runs the service clocks ten times faster: a state machine's HeartbeatSeconds of
30 times out after 3 real seconds, and a Retry interval of 1 s waits 0.1 s. The workers'
own ``heartbeat_seconds`` are real seconds (1 s: a heartbeat every ~0.8 s).
"""

from __future__ import annotations

import json
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from support.faults import WorkerReport
from support.fleet_process import FleetProcess
from support.worker import RETRY_FLEET, RETRY_TIMEOUT, Worker, create_machine, running_worker

from fleet import Fleet, Task

#: Speed-up of the service clocks in every case.
TIME_SCALE = 10.0
#: The state machines' HeartbeatSeconds (service seconds), and how long that is in real time.
HEARTBEAT = 30
HEARTBEAT_REAL = HEARTBEAT / TIME_SCALE
#: The Retry interval of every retrier (service seconds), and its real-time length.
RETRY_REAL = RETRY_FLEET["IntervalSeconds"] / TIME_SCALE
#: Long polls are held this long (real seconds) so that drains and stops stay short.
LONG_POLL_SECONDS = 1.0
#: Retry what a handler raised, after the fleet's own errors and timeouts.
RETRY_HANDLER = {
    "ErrorEquals": ["States.TaskFailed"],
    "IntervalSeconds": 1,
    "MaxAttempts": 3,
    "BackoffRate": 1.0,
}
#: The Retry of every case's state machine: the fleet's errors, timeouts, handler errors.
RETRY = [RETRY_FLEET, RETRY_TIMEOUT, RETRY_HANDLER]

#: A worker whose first attempt at a task sleeps as long as the input says; retries finish
#: at once and say which attempt they were.
SLEEPER = """
import anyio
from fleet import Fleet, Task

app = Fleet()


@app.activity({name!r}, heartbeat_seconds=1.0)
async def work(task: Task) -> dict:
    spec = task.input if isinstance(task.input, dict) else {{}}
    if (task.attempt or 1) == 1:
        await anyio.sleep(spec.get("sleep", 0))
    return {{"attempt": task.attempt}}
"""


async def machine(sfn: Any, activity: str, **kwargs: Any) -> str:
    """Create ``activity`` and the case's state machine over it; return the machine ARN."""
    kwargs.setdefault("heartbeat", HEARTBEAT)
    kwargs.setdefault("retry", RETRY)
    kwargs.setdefault("context", True)
    _, arn = await create_machine(sfn, activity, **kwargs)
    return arn


@asynccontextmanager
async def rescuer(endpoint_url: str, *activities: str, **settings: Any) -> AsyncIterator[Worker]:
    """A second worker, in this process, that finishes every task of ``activities`` at once."""
    app = Fleet()
    for name in activities:

        @app.activity(name, heartbeat_seconds=1.0)
        async def finish(task: Task) -> dict[str, Any]:
            return {"attempt": task.attempt, "by": "rescuer"}

    settings.setdefault("worker_name", "rescuer")
    async with running_worker(app, endpoint_url, **settings) as worker:
        yield worker


async def stop(worker: FleetProcess) -> WorkerReport:
    """SIGTERM a ``fleet run`` process, check it exits cleanly, and return what it says it did."""
    status, _ = await worker.signal_and_time_exit(signal.SIGTERM, timeout=15)
    assert status == 0, "\n".join(worker.lines[-20:])
    return WorkerReport.of_process(worker)


async def completed(worker: FleetProcess, activity: str) -> float:
    """Tasks of ``activity`` the worker has finished so far, whatever their outcome."""
    return sum(
        value
        for (name, labels), value in (await worker.scrape()).items()
        if name == "fleet_tasks_completed_total" and ("activity", activity) in labels
    )


async def wait_completed(worker: FleetProcess, activity: str, count: int, timeout: float) -> None:
    """Wait until the worker has finished ``count`` tasks of ``activity``."""
    with anyio.fail_after(timeout):
        while await completed(worker, activity) < count:
            await anyio.sleep(0.1)


def api_outcomes(report: WorkerReport) -> dict[str, float]:
    """Every API call the worker made, by outcome (all operations together)."""
    outcomes = ("ok", "throttled", "server_error", "network_error", "client_error")
    return {o: report.total("fleet_api_requests_total", outcome=o) for o in outcomes}


async def start_all(sfn: Any, machine_arn: str, inputs: list[Any]) -> list[str]:
    """Start one execution per input, all at once; return their ARNs in input order."""
    arns: list[str] = [""] * len(inputs)

    async def one(i: int) -> None:
        response = await sfn.start_execution(
            stateMachineArn=machine_arn, input=json.dumps(inputs[i])
        )
        arns[i] = response["executionArn"]

    async with anyio.create_task_group() as tg:
        for i in range(len(inputs)):
            tg.start_soon(one, i)
    return arns


def report_of(worker: Worker) -> WorkerReport:
    """The final report of an in-process worker (after its block has ended)."""
    return WorkerReport.of_registry(worker.settings.worker_name, worker.metrics.registry)


def show(case: str, numbers: dict[str, Any]) -> None:
    """Print a case's numbers in one line (``pytest -s`` shows them; the docs quote them)."""
    print(f"\n[reliability] {case}: {json.dumps(numbers, sort_keys=True, default=str)}")
