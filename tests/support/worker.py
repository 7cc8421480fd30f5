"""Helpers for worker tests: state machines on the local endpoint and a worker in-process."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio

from fleet import Fleet, Settings
from fleet._machine import CONTEXT_PARAMETERS
from fleet._metrics import Metrics
from fleet._supervisor import Supervisor
from fleet._worker import serve
from support import machines
from support.aws import sfn_client
from support.process import Samples, scrape

REGION = "us-east-1"
RETRY_FLEET = {
    "ErrorEquals": ["Fleet.Draining", "Fleet.Interrupted"],
    "IntervalSeconds": 1,
    "MaxAttempts": 10,
    "BackoffRate": 1.0,
}
RETRY_TIMEOUT = {
    "ErrorEquals": ["States.Timeout"],
    "IntervalSeconds": 1,
    "MaxAttempts": 3,
    "BackoffRate": 1.0,
}


def client(endpoint_url: str) -> Any:
    """A real aioboto3 Step Functions client (an async context manager) for ``endpoint_url``."""
    return sfn_client(endpoint_url, REGION)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def create_machine(
    sfn: Any,
    activity: str,
    *,
    heartbeat: int | None = None,
    timeout: int | None = None,
    retry: list[dict[str, Any]] | None = None,
    catch: list[dict[str, Any]] | None = None,
    context: bool = False,
) -> tuple[str, str]:
    """Create an activity and a one-Task state machine over it; return both ARNs."""
    activity_arn = (await sfn.create_activity(name=activity))["activityArn"]
    state = machines.task_state(activity_arn)
    if heartbeat is not None:
        state["HeartbeatSeconds"] = heartbeat
    if timeout is not None:
        state["TimeoutSeconds"] = timeout
    if retry:
        state["Retry"] = retry
    if catch:
        state["Catch"] = catch
        state.pop("End")
        state["Next"] = "Done"
    if context:
        state["Parameters"] = dict(CONTEXT_PARAMETERS)
    states: dict[str, Any] = {"Work": state}
    if catch:
        states["Done"] = {"Type": "Pass", "End": True}
    definition = {"StartAt": "Work", "States": states}
    return activity_arn, await machines.create_machine(sfn, definition, unique(activity))


async def start(sfn: Any, machine: str, inputs: Iterable[Any]) -> list[str]:
    """Start one execution per input; return their ARNs in order."""
    arns = []
    for value in inputs:
        response = await sfn.start_execution(stateMachineArn=machine, input=json.dumps(value))
        arns.append(response["executionArn"])
    return arns


async def wait_done(sfn: Any, arns: list[str], timeout: float = 30.0) -> dict[str, dict[str, Any]]:
    """Wait until every execution has ended; return DescribeExecution of each."""
    done: dict[str, dict[str, Any]] = {}
    with anyio.fail_after(timeout):
        while len(done) < len(arns):
            for arn in arns:
                if arn in done:
                    continue
                described = await sfn.describe_execution(executionArn=arn)
                if described["status"] != "RUNNING":
                    done[arn] = described
            if len(done) < len(arns):
                await anyio.sleep(0.05)
    return done


async def history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    """The execution's whole history, oldest first."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        page = await sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def event_types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


@dataclass
class Worker:
    """A worker running in the test's event loop."""

    metrics: Metrics
    settings: Settings
    sup: Supervisor | None = None
    port: int = 0
    status: int | None = None

    def value(self, name: str, **labels: str) -> float:
        """The sum of sample ``name`` over the series whose labels include ``labels``."""
        return self.metrics.total(name, **labels)

    async def scrape(self) -> Samples:
        """Read /metrics over HTTP, as Prometheus would."""
        return await scrape(self.port)


def worker_settings(endpoint_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "endpoint_url": endpoint_url,
        "region": REGION,
        "metrics_port": 0,
        "min_pollers": 1,
        "max_pollers": 4,
        "concurrency": 16,
        "drain_seconds": 8.0,
        "drain_reserve_seconds": 2.0,
        "worker_name": "test-worker",
        "task_protection": "off",
        "log_format": "console",
        # Tests read the metrics in-process; nobody scrapes after a drain.
        "metrics_linger_seconds": 0.0,
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running_worker(app: Fleet, endpoint_url: str, **overrides: Any) -> AsyncIterator[Worker]:
    """Run ``app`` in this loop until the block ends, then stop it and wait for its exit."""
    settings = worker_settings(endpoint_url, **overrides)
    worker = Worker(metrics=Metrics(), settings=settings)
    started = anyio.Event()

    def on_started(sup: Supervisor, port: int) -> None:
        worker.sup, worker.port = sup, port
        started.set()

    async def run() -> None:
        worker.status = await serve(app, settings, metrics=worker.metrics, on_started=on_started)
        started.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        with anyio.fail_after(15):
            await started.wait()
        if worker.sup is None:
            raise RuntimeError(f"worker exited at start-up with status {worker.status}")
        try:
            yield worker
        finally:
            worker.sup.stop("test finished")
            with anyio.fail_after(30):
                while worker.status is None:
                    await anyio.sleep(0.02)
