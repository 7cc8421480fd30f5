"""Per-activity rate limits: starts spread at the limit, checked on a fake clock and a worker."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from fleet import Fleet, Task
from fleet._ratelimit import RateLimit, RateLimiter
from fleet.testing import LocalWorker


@pytest.mark.parametrize(
    ("text", "per_second"),
    [("30/m", 0.5), ("5/s", 5.0), ("7200/h", 2.0), ("1.5 / sec", 1.5), ("120/min", 2.0)],
)
def test_limits_parse(text: str, per_second: float) -> None:
    assert RateLimit.parse(text).per_second == per_second


@pytest.mark.parametrize("text", ["30", "30/d", "x/m", "0/s", "-1/s", ""])
def test_bad_limits_are_refused_at_registration(text: str) -> None:
    app = Fleet()
    with pytest.raises(ValueError, match="rate_limit"):
        app.activity("Limited", rate_limit=text)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def test_starts_are_spaced_by_the_rate_however_long_polls_are_held() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit.parse("30/m"), clock=clock, sleep=clock.sleep)
    starts = []
    for held in (0.0, 50.0, 0.0, 0.0, 3.0):
        async with limiter.turn():
            clock.now += held  # the long poll is held this long, then brings a task
            limiter.spend()
            starts.append(clock.now)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(gap >= 2.0 for gap in gaps), gaps


async def test_empty_polls_cost_nothing() -> None:
    clock = FakeClock()
    limiter = RateLimiter(RateLimit.parse("1/s"), clock=clock, sleep=clock.sleep)
    for _ in range(5):
        async with limiter.turn():
            pass  # empty poll: no task, no permit spent
    assert clock.now == 100.0


def test_a_worker_starts_tasks_no_faster_than_the_limit(
    fleet_worker: Callable[..., LocalWorker],
) -> None:
    app = Fleet()

    @app.activity("Limited", rate_limit="5/s", concurrency=8)
    async def limited(task: Task) -> int:
        return int(task.input)

    worker = fleet_worker(app, min_pollers=4, max_pollers=8)
    machine = worker.create_state_machine(
        {"StartAt": "L", "States": {"L": {"Type": "Task", "Resource":
                                          worker.activity_arn("Limited"), "End": True}}}
    )  # fmt: skip
    arns = [worker.start_execution(machine, n) for n in range(5)]
    results = [worker.wait(arn) for arn in arns]
    assert [r.output for r in results] == list(range(5))
    # The endpoint's clock: when each task was handed to a poll.
    started = sorted(
        event["timestamp"].timestamp()
        for arn in arns
        for event in worker.history(arn)
        if event["type"] == "ActivityStarted"
    )
    gaps = [b - a for a, b in itertools.pairwise(started)]
    assert min(gaps) >= 0.19, gaps  # 1/5 s, less float rounding in the timestamps


def test_a_worker_waiting_for_its_rate_limit_stops_at_once_and_loses_nothing(
    fleet_worker: Callable[..., LocalWorker],
) -> None:
    app = Fleet()

    @app.activity("Slow", rate_limit="1/h")
    async def slow(task: Task) -> int:
        return int(task.input)

    worker = fleet_worker(app, min_pollers=2, max_pollers=4)
    machine = worker.create_state_machine(
        {"StartAt": "S", "States": {"S": {"Type": "Task", "Resource":
                                          worker.activity_arn("Slow"), "End": True}}}
    )  # fmt: skip
    first, second = (worker.start_execution(machine, n) for n in (1, 2))
    assert worker.wait(first).output == 1
    # The second task waits an hour for its turn; the worker still stops cleanly at once,
    # and the task stays with Step Functions for the next worker.
    assert worker.stop() == 0
    described = worker.client.describe_execution(executionArn=second)
    assert described["status"] == "RUNNING"
    types = [event["type"] for event in worker.history(second)]
    assert types[-1] == "ActivityScheduled"
