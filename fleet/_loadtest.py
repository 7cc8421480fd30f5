"""``fleet loadtest``: start executions at a steady rate, follow them, report the numbers.

It works against the local endpoint or real AWS. Starts are paced at the asked rate and
never faster than the StartExecution quota; following uses ListExecutions (newest first,
stopping at the oldest execution of the run), DescribeExecution of a sample of failed
executions for their error names, and a sample of execution histories for the time spent in
each state and the time each task waited between ActivityScheduled and ActivityStarted.
While it runs it reports progress and says why when starts fall behind the asked rate; the
report (JSON, and HTML with ``fleet._loadreport``) has percentiles, histograms, a time
series and the verdict of the thresholds.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import aioboto3
import anyio
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from fleet._bucket import TokenBucket
from fleet._client import check_endpoint_url, explain, no_credentials
from fleet._errors import ConfigurationError
from fleet._limits import api_quota_in
from fleet._loadstats import (
    Closed,
    Threshold,
    histogram,
    percentiles,
    rounded,
    state_times,
    time_series,
)

__all__ = ["LoadTest", "Progress", "Report", "TokenBucket", "percentiles"]

CLOSED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
#: StartExecution calls in flight at once.
MAX_STARTS_IN_FLIGHT = 64
#: Starts are "behind" when fewer than this share of those due have been made.
BEHIND = 0.9


@dataclass
class Execution:
    """One execution of the run, as far as it has been followed."""

    arn: str
    started: float
    status: str = "RUNNING"
    stopped: float | None = None
    error: str | None = None


@dataclass
class Progress:
    """What the live display shows, at one moment of the run."""

    elapsed_seconds: float
    total: int
    started: int
    rate_asked: float
    rate_achieved: float
    succeeded: int
    failed: int
    running: int
    failures_by_error: dict[str, int]
    latency_seconds: dict[str, float | None]
    warnings: list[str]


@dataclass
class Report:
    """The load test's outcome; ``--report`` writes it as JSON, ``--html`` as a page."""

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
    failure_ratio: float = 0.0
    failures_by_error: dict[str, int] = field(default_factory=dict)
    failures_described: int = 0
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    histograms: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    time_series: list[dict[str, Any]] = field(default_factory=list)
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every execution ended and every threshold held."""
        return self.outcomes.get("RUNNING", 0) == 0 and all(t["passed"] for t in self.thresholds)

    def to_json(self) -> str:
        """The report as indented JSON."""
        return json.dumps({**asdict(self), "passed": self.passed}, indent=2)


@dataclass
class LoadTest:
    """A load test's parameters (see ``fleet loadtest --help``)."""

    state_machine_arn: str
    executions: int
    rate: float
    input: str = "{}"
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    timeout_seconds: float = 600.0
    history_sample: int = 200
    describe_sample: int = 200
    follow_interval: float = 1.0
    max_failure_ratio: float | None = None
    max_latency: list[Threshold] = field(default_factory=list)
    progress: Callable[[Progress], None] | None = None
    runs: dict[str, Execution] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    start_duration: float = 0.0
    histories: int = 0
    described: int = 0
    _began: float = 0.0
    _start_seconds: list[float] = field(default_factory=list)
    _warned: set[str] = field(default_factory=set)
    _quota: tuple[float, float] = (1300, 300)
    _region: str = ""

    def __post_init__(self) -> None:
        if self.executions < 1:
            raise ConfigurationError("--executions must be at least 1")
        if not self.rate > 0:
            raise ConfigurationError("--rate must be a positive number of executions per second")
        if self.max_failure_ratio is not None and not 0 <= self.max_failure_ratio <= 1:
            raise ConfigurationError("--max-failure-ratio must be between 0 and 1")
        try:
            json.loads(self.input)
        except ValueError as exc:
            raise ConfigurationError(f"--input is not JSON: {exc}") from None
        check_endpoint_url(self.endpoint_url)

    async def run(self) -> Report:
        """Start, follow and measure; return the report.

        Raises ConfigurationError with one line for bad credentials, region, endpoint or
        state machine.
        """
        try:
            return await self._run()
        except ConfigurationError:
            raise
        except (BotoCoreError, ClientError, ValueError) as exc:
            raise ConfigurationError(explain(exc, self.endpoint_url)) from None

    async def _run(self) -> Report:
        session = aioboto3.Session(region_name=self.region, profile_name=self.profile)
        region = self.region or session.region_name
        if not region:
            raise ConfigurationError("no AWS region: pass --region or set AWS_REGION")
        if await session.get_credentials() is None:
            raise ConfigurationError(no_credentials(self.endpoint_url))
        self._quota, self._region = api_quota_in("StartExecution", region), region
        config = AioConfig(retries={"mode": "standard", "max_attempts": 5},
                           max_pool_connections=MAX_STARTS_IN_FLIGHT)  # fmt: skip
        # One quick try first: a wrong port or a missing state machine is told at once,
        # not after the retries that the run's own calls get.
        probe = AioConfig(retries={"total_max_attempts": 1})
        async with session.client(
            "stepfunctions", endpoint_url=self.endpoint_url, region_name=region, config=probe
        ) as sfn:
            try:
                await sfn.describe_state_machine(stateMachineArn=self.state_machine_arn)
            except ClientError as exc:
                if exc.response["Error"]["Code"] in ("StateMachineDoesNotExist", "InvalidArn"):
                    raise ConfigurationError(
                        f"state machine {self.state_machine_arn}: "
                        f"{exc.response['Error']['Message']}"
                    ) from None
                raise
        async with session.client(
            "stepfunctions", endpoint_url=self.endpoint_url, region_name=region, config=config
        ) as sfn:
            self._warn_about_quota()
            self._began = time.monotonic()
            with anyio.move_on_after(self.timeout_seconds):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._start_all, sfn, TokenBucket(*self._quota))
                    await self._follow(
                        sfn,
                        TokenBucket(*api_quota_in("ListExecutions", region)),
                        TokenBucket(*api_quota_in("DescribeExecution", region)),
                    )
            wall = time.monotonic() - self._began
            histories = await self._sample_histories(
                sfn, TokenBucket(*api_quota_in("GetExecutionHistory", region))
            )
        return self._report(wall, histories)

    # -- starting -----------------------------------------------------------------------------

    async def _start_all(self, sfn: Any, bucket: TokenBucket) -> None:
        limiter = anyio.Semaphore(MAX_STARTS_IN_FLIGHT)
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
        began = time.monotonic()
        try:
            response = await sfn.start_execution(
                stateMachineArn=self.state_machine_arn, input=self.input
            )
            arn = response["executionArn"]
            self.runs[arn] = Execution(arn, response["startDate"].timestamp())
        except ClientError as exc:
            self.errors[exc.response["Error"]["Code"]] += 1
        except BotoCoreError as exc:  # the endpoint went away, a timeout: count, carry on
            self.errors[type(exc).__name__] += 1
        finally:
            self._start_seconds.append(time.monotonic() - began)
            limiter.release()

    @property
    def attempted(self) -> int:
        """Starts made so far, whether they succeeded or not."""
        return len(self.runs) + sum(self.errors.values())

    # -- following ----------------------------------------------------------------------------

    async def _follow(self, sfn: Any, lists: TokenBucket, describes: TokenBucket) -> None:
        while True:
            await anyio.sleep(self.follow_interval)
            await self._refresh(sfn, lists)
            await self._describe_failures(sfn, describes)
            self._check_pace()
            self._tick()
            if self.attempted >= self.executions and all(
                r.status in CLOSED for r in self.runs.values()
            ):
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

    async def _describe_failures(self, sfn: Any, bucket: TokenBucket) -> None:
        """Read the error name of failed executions, up to ``describe_sample`` of them."""
        for run in self.runs.values():
            if self.described >= self.describe_sample:
                return
            if run.status in ("SUCCEEDED", "RUNNING") or run.error is not None:
                continue
            await bucket.take()
            described = await sfn.describe_execution(executionArn=run.arn)
            run.error = described.get("error") or _status_error(run.status)
            self.described += 1

    def _check_pace(self) -> None:
        """Warn, once per cause, when starts fall behind the asked rate, and say why."""
        if self.attempted >= self.executions:
            return
        elapsed = time.monotonic() - self._began
        due = min(self.executions, elapsed * self.rate)
        if elapsed < 2 * self.follow_interval or self.attempted >= BEHIND * due - 1:
            return
        behind = (
            f"starts are behind: {self.attempted / elapsed:.1f}/s achieved of {self.rate:g}/s asked"
        )
        burst, refill = self._quota
        throttled = self.errors.get("ThrottlingException", 0)
        recent = self._start_seconds[-200:]
        if not recent:
            return  # no start call has come back yet: too early to say why
        mean = max(sum(recent) / len(recent), 1e-9)
        if throttled:
            self._warn("throttled", f"{behind}: StartExecution was throttled {throttled} times "
                       "(the account's quota is shared with every other caller)")  # fmt: skip
        elif self.rate > refill and elapsed * refill + burst < due:
            self._warn("quota", f"{behind}: the StartExecution quota in {self._region} refills "
                       f"{refill:g}/s after a burst of {burst:g}")  # fmt: skip
        elif MAX_STARTS_IN_FLIGHT / mean < self.rate:
            self._warn("latency", f"{behind}: each StartExecution takes {mean * 1000:.0f} ms and "
                       f"{MAX_STARTS_IN_FLIGHT} run at once, so at most "
                       f"{MAX_STARTS_IN_FLIGHT / mean:.0f}/s can start")  # fmt: skip
        elif self.errors:
            errors = ", ".join(f"{k} {v}" for k, v in self.errors.most_common(3))
            self._warn("errors", f"{behind}: StartExecution calls fail ({errors})")
        else:
            self._warn("client", f"{behind}: StartExecution calls take {mean * 1000:.0f} ms on "
                       "average and this process cannot keep up (CPU or network)")  # fmt: skip

    def _warn_about_quota(self) -> None:
        burst, refill = self._quota
        if self.rate > refill and self.executions > burst:
            self._warn("quota", f"the asked {self.rate:g}/s is above the StartExecution quota "
                       f"in {self._region} ({refill:g}/s after a burst of {burst:g}): starts will "
                       "be paced to the quota")  # fmt: skip

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.warnings.append(message)

    def snapshot(self) -> Progress:
        """The run so far, for the live display."""
        elapsed = max(time.monotonic() - self._began, 1e-9) if self._began else 1e-9
        starting = self.start_duration or elapsed
        statuses = Counter(r.status for r in self.runs.values())
        failures = Counter(r.error for r in self.runs.values() if r.error is not None)
        failures.update(self.errors)
        latencies = [r.stopped - r.started for r in self.runs.values() if r.stopped is not None]
        return Progress(
            elapsed_seconds=elapsed,
            total=self.executions,
            started=self.attempted,
            rate_asked=self.rate,
            rate_achieved=self.attempted / starting,
            succeeded=statuses.get("SUCCEEDED", 0),
            failed=sum(v for k, v in statuses.items() if k not in ("SUCCEEDED", "RUNNING")),
            running=statuses.get("RUNNING", 0),
            failures_by_error=dict(failures.most_common()),
            latency_seconds=percentiles(latencies),
            warnings=list(self.warnings),
        )

    def _tick(self) -> None:
        if self.progress is not None:
            self.progress(self.snapshot())

    # -- after the run ------------------------------------------------------------------------

    async def _sample_histories(self, sfn: Any, bucket: TokenBucket) -> list[list[dict[str, Any]]]:
        closed = [r for r in self.runs.values() if r.status in CLOSED]
        step = max(1, len(closed) // max(1, self.history_sample))
        histories = []
        for run in closed[::step][: self.history_sample]:
            events: list[dict[str, Any]] = []
            kwargs: dict[str, Any] = {"executionArn": run.arn, "maxResults": 1000}
            while True:
                await bucket.take()
                page = await sfn.get_execution_history(**kwargs)
                events.extend(page["events"])
                if not page.get("nextToken"):
                    break
                kwargs["nextToken"] = page["nextToken"]
            histories.append(events)
            self.histories += 1
        return histories

    def _report(self, wall: float, histories: list[list[dict[str, Any]]]) -> Report:
        runs = list(self.runs.values())
        done = [r for r in runs if r.stopped is not None]
        latencies = [r.stopped - r.started for r in done if r.stopped is not None]
        first = min((r.started for r in runs), default=0.0)
        last = max((r.stopped for r in done if r.stopped is not None), default=first)
        span = max(last - first, 1e-9)
        starting = self.start_duration or wall
        times = state_times(histories)
        waits = [w for values in times.schedule_to_start.values() for w in values]
        states = {
            name: {
                "in_state_seconds": rounded(percentiles(values)),
                "schedule_to_start_seconds": rounded(
                    percentiles(times.schedule_to_start.get(name, []))
                ),
                "task_run_seconds": rounded(percentiles(times.task_run.get(name, []))),
                "samples": len(values),
            }
            for name, values in sorted(times.in_state.items())
        }
        hist = {"end_to_end": histogram(latencies)}
        hist.update({f"state:{name}": histogram(v) for name, v in sorted(times.in_state.items())})
        outcomes = dict(Counter(r.status for r in runs))
        failed = sum(v for k, v in outcomes.items() if k not in ("SUCCEEDED", "RUNNING"))
        attempted = max(1, len(runs) + sum(self.errors.values()))
        failure_ratio = (failed + sum(self.errors.values())) / attempted
        e2e = percentiles(latencies)
        thresholds = []
        if self.max_failure_ratio is not None:
            verdict = Threshold("failure_ratio", self.max_failure_ratio).check(failure_ratio)
            thresholds.append(verdict)
        thresholds += [t.check(e2e[t.name]) for t in self.max_latency]
        failures = Counter(r.error for r in runs if r.error is not None)
        return Report(
            state_machine_arn=self.state_machine_arn,
            executions=self.executions,
            rate_asked=self.rate,
            rate_achieved=round(len(runs) / max(starting, 1e-9), 2),
            duration_seconds=round(wall, 3),
            throughput_per_second=round(len(done) / span, 2) if done else 0.0,
            outcomes=outcomes,
            end_to_end_seconds=rounded(e2e),
            schedule_to_start_seconds=rounded(percentiles(waits)),
            histories_sampled=self.histories,
            start_errors=dict(self.errors),
            failure_ratio=round(failure_ratio, 4),
            failures_by_error=dict(failures.most_common()),
            failures_described=self.described,
            states=states,
            histograms=hist,
            time_series=time_series(
                [r.started for r in runs],
                [Closed(r.started, r.stopped, r.status) for r in done if r.stopped is not None],
                origin=first,
            ),
            thresholds=thresholds,
            warnings=list(self.warnings),
        )


def _status_error(status: str) -> str:
    return {"TIMED_OUT": "States.Timeout", "ABORTED": "Aborted"}.get(status, status)
