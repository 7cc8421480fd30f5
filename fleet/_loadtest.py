"""``fleet loadtest``: start executions at a steady rate, follow them, report the numbers.

It works against the local endpoint or real AWS. Starts are paced at the asked rate and
never faster than the StartExecution quota; following uses ListExecutions (newest first,
stopping at the oldest execution of the run) and a sample of execution histories for the
time each task waited between ActivityScheduled and ActivityStarted.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import aioboto3
import anyio
from aiobotocore.config import AioConfig
from botocore.exceptions import ClientError

from fleet._bucket import TokenBucket
from fleet._errors import ConfigurationError
from fleet._limits import api_quota_in

CLOSED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50, p90, p99 (nearest rank) and max of ``values``, in seconds; None when empty."""
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    return {"p50": rank(50), "p90": rank(90), "p99": rank(99), "max": ordered[-1]}


@dataclass
class Execution:
    """One execution of the run, as far as it has been followed."""

    arn: str
    started: float
    status: str = "RUNNING"
    stopped: float | None = None


@dataclass
class Report:
    """The load test's outcome; ``--report`` writes it as JSON."""

    state_machine_arn: str
    executions: int
    rate_asked: float
    rate_achieved: float
    duration_seconds: float
    throughput_per_second: float
    outcomes: dict[str, int]
    end_to_end_seconds: dict[str, float | None]
    schedule_to_start_seconds: dict[str, float | None]
    histories_sampled: int
    start_errors: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        """The report as indented JSON."""
        return json.dumps(asdict(self), indent=2)


@dataclass
class LoadTest:
    """A load test's parameters (see ``fleet loadtest --help``)."""

    state_machine_arn: str
    executions: int
    rate: float
    input: str = "{}"
    endpoint_url: str | None = None
    region: str | None = None
    timeout_seconds: float = 600.0
    history_sample: int = 200
    follow_interval: float = 1.0
    progress: Any = None  # a callable(started, finished, total), e.g. a rich progress bar
    runs: dict[str, Execution] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    start_duration: float = 0.0
    histories: int = 0

    def __post_init__(self) -> None:
        if self.executions < 1:
            raise ConfigurationError("--executions must be at least 1")
        if not self.rate > 0:
            raise ConfigurationError("--rate must be a positive number of executions per second")
        try:
            json.loads(self.input)
        except ValueError as exc:
            raise ConfigurationError(f"--input is not JSON: {exc}") from None

    async def run(self) -> Report:
        """Start, follow and measure; return the report."""
        session = aioboto3.Session(region_name=self.region)
        region = self.region or session.region_name
        if not region:
            raise ConfigurationError("no AWS region: pass --region or set AWS_REGION")
        config = AioConfig(retries={"mode": "standard", "max_attempts": 5},
                           max_pool_connections=64)  # fmt: skip
        async with session.client(
            "stepfunctions", endpoint_url=self.endpoint_url, region_name=region, config=config
        ) as sfn:
            try:
                await sfn.describe_state_machine(stateMachineArn=self.state_machine_arn)
            except ClientError as exc:
                raise ConfigurationError(
                    f"state machine {self.state_machine_arn}: {exc.response['Error']['Message']}"
                ) from None
            began = time.monotonic()
            with anyio.move_on_after(self.timeout_seconds):
                async with anyio.create_task_group() as tg:
                    start_bucket = TokenBucket(*api_quota_in("StartExecution", region))
                    tg.start_soon(self._start_all, sfn, start_bucket)
                    await self._follow(sfn, TokenBucket(*api_quota_in("ListExecutions", region)))
            wall = time.monotonic() - began
            history_bucket = TokenBucket(*api_quota_in("GetExecutionHistory", region))
            waits = await self._schedule_to_start(sfn, history_bucket)
        return self._report(wall, waits)

    async def _start_all(self, sfn: Any, bucket: TokenBucket) -> None:
        limiter = anyio.Semaphore(64)
        t0 = time.monotonic()
        async with anyio.create_task_group() as tg:
            for i in range(self.executions):
                delay = t0 + i / self.rate - time.monotonic()
                if delay > 0:
                    await anyio.sleep(delay)
                await bucket.take()
                await limiter.acquire()
                tg.start_soon(self._start_one, sfn, limiter)
        self.start_duration = time.monotonic() - t0

    async def _start_one(self, sfn: Any, limiter: anyio.Semaphore) -> None:
        try:
            response = await sfn.start_execution(
                stateMachineArn=self.state_machine_arn, input=self.input
            )
            arn = response["executionArn"]
            self.runs[arn] = Execution(arn, response["startDate"].timestamp())
        except ClientError as exc:
            self.errors[exc.response["Error"]["Code"]] += 1
        finally:
            limiter.release()
            self._tick()

    async def _follow(self, sfn: Any, bucket: TokenBucket) -> None:
        while True:
            await anyio.sleep(self.follow_interval)
            await self._refresh(sfn, bucket)
            self._tick()
            started = len(self.runs) + sum(self.errors.values())
            if started >= self.executions and all(r.status in CLOSED for r in self.runs.values()):
                return

    async def _refresh(self, sfn: Any, bucket: TokenBucket) -> None:
        open_runs = {arn for arn, r in self.runs.items() if r.status not in CLOSED}
        if not open_runs:
            return
        oldest = min(self.runs[arn].started for arn in open_runs)
        kwargs: dict[str, Any] = {"stateMachineArn": self.state_machine_arn, "maxResults": 1000}
        while True:
            await bucket.take()
            page = await sfn.list_executions(**kwargs)
            for item in page["executions"]:
                run = self.runs.get(item["executionArn"])
                if run is not None and item["status"] != "RUNNING":
                    run.status = item["status"]
                    stop = item.get("stopDate")
                    run.stopped = stop.timestamp() if isinstance(stop, datetime) else None
            items = page["executions"]
            # Newest first: once a page reaches before the oldest open run, stop paging.
            if not page.get("nextToken") or (items and items[-1]["startDate"].timestamp() < oldest):
                return
            kwargs["nextToken"] = page["nextToken"]

    async def _schedule_to_start(self, sfn: Any, bucket: TokenBucket) -> list[float]:
        closed = [r for r in self.runs.values() if r.status in CLOSED]
        step = max(1, len(closed) // max(1, self.history_sample))
        waits: list[float] = []
        for run in closed[::step][: self.history_sample]:
            await bucket.take()
            events = (await sfn.get_execution_history(executionArn=run.arn, maxResults=1000))[
                "events"
            ]
            self.histories += 1
            scheduled: float | None = None
            for event in events:
                if event["type"] == "ActivityScheduled":
                    scheduled = event["timestamp"].timestamp()
                elif event["type"] == "ActivityStarted" and scheduled is not None:
                    waits.append(event["timestamp"].timestamp() - scheduled)
                    scheduled = None
        return waits

    def _tick(self) -> None:
        if self.progress is not None:
            finished = sum(r.status in CLOSED for r in self.runs.values())
            self.progress(len(self.runs) + sum(self.errors.values()), finished, self.executions)

    def _report(self, wall: float, waits: list[float]) -> Report:
        runs = list(self.runs.values())
        done = [r for r in runs if r.stopped is not None]
        latencies = [r.stopped - r.started for r in done if r.stopped is not None]
        first = min((r.started for r in runs), default=0.0)
        last = max((r.stopped for r in done if r.stopped is not None), default=first)
        span = max(last - first, 1e-9)
        starting = self.start_duration or wall
        return Report(
            state_machine_arn=self.state_machine_arn,
            executions=self.executions,
            rate_asked=self.rate,
            rate_achieved=round(len(runs) / max(starting, 1e-9), 2),
            duration_seconds=round(wall, 3),
            throughput_per_second=round(len(done) / span, 2) if done else 0.0,
            outcomes=dict(Counter(r.status for r in runs)),
            end_to_end_seconds=_rounded(percentiles(latencies)),
            schedule_to_start_seconds=_rounded(percentiles(waits)),
            histories_sampled=self.histories,
            start_errors=dict(self.errors),
        )


def _rounded(values: dict[str, float | None]) -> dict[str, float | None]:
    return {k: (round(v, 4) if v is not None else None) for k, v in values.items()}
