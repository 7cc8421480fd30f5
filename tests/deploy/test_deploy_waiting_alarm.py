"""The waiting-work alarm on simulated minutes: quiet at steady load, fast on a real backlog.

A seeded simulation of one activity's queue produces what CloudWatch would see each minute
(ActivitiesScheduled, ActivitiesStarted, the p90 of ActivityScheduleTime); the alarm's own
metric math, as deploy writes it, is evaluated on it with CloudWatch's M-of-N rule.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from deploy.resources.autoscaling import WAITING_DATAPOINTS, WAITING_PERIODS, waiting_expression

TARGET_MS = 30_000  # acceptable_wait_seconds of the example stack
# The alarm before: any minute with more scheduled than started, 2 of 2 periods.
NOISY = f"IF(FILL(scheduled, 0) > FILL(started, 0) OR FILL(wait, 0) > {TARGET_MS}, 1, 0)"


@dataclass
class Minute:
    """What CloudWatch holds for one minute of one activity."""

    scheduled: int = 0
    started: int = 0
    wait_p90_ms: float | None = None


def simulate(
    rate: Callable[[int], float], slots: int, minutes: int, mean_seconds: float, seed: int
) -> list[Minute]:
    """A FIFO queue: Poisson arrivals at ``rate(minute)`` per second, ``slots`` workers.

    A task starts when a slot is free, after the poll hand-off (20-300 ms), and runs an
    exponential time; ActivityScheduleTime is recorded in the minute it starts.
    """
    rng = random.Random(seed)
    free = [0.0] * slots
    heapq.heapify(free)
    out = [Minute() for _ in range(minutes)]
    waits: list[list[float]] = [[] for _ in range(minutes)]
    now = 0.0
    while True:
        lam = rate(int(now // 60))
        now += rng.expovariate(lam) if lam > 0 else 60.0
        if now >= minutes * 60:
            break
        if lam <= 0:
            continue
        out[int(now // 60)].scheduled += 1
        if not free:
            continue  # no worker: the task waits in ActivityScheduled
        start = max(now + rng.uniform(0.02, 0.3), heapq.heappop(free))
        heapq.heappush(free, start + rng.expovariate(1 / mean_seconds))
        if start < minutes * 60:
            out[int(start // 60)].started += 1
            waits[int(start // 60)].append((start - now) * 1000)
    for minute, found in zip(out, waits, strict=True):
        if found:
            found.sort()
            minute.wait_p90_ms = found[max(0, math.ceil(0.9 * len(found)) - 1)]
    return out


def evaluate(expression: str, series: list[Minute]) -> list[float]:
    """The metric math of the alarm, minute by minute (IF, FILL, AND, OR, comparisons)."""
    code = compile(expression.replace(" OR ", " or ").replace(" AND ", " and "), "alarm", "eval")
    out = []
    for minute in series:
        names = {
            "IF": lambda condition, yes, no: yes if condition else no,
            "FILL": lambda value, default: default if value is None else value,
            "scheduled": minute.scheduled or None,
            "started": minute.started or None,
            "wait": minute.wait_p90_ms,
        }
        out.append(float(eval(code, {"__builtins__": {}}, names)))
    return out


def alarm_starts(values: list[float], periods: int, datapoints: int) -> list[int]:
    """The minutes where the alarm goes from OK to ALARM (M of the last N datapoints)."""
    starts, alarming = [], False
    for end in range(periods, len(values) + 1):
        now = sum(v >= 1 for v in values[end - periods : end]) >= datapoints
        if now and not alarming:
            starts.append(end - 1)
        alarming = now
    return starts


def _new(series: list[Minute]) -> list[int]:
    values = evaluate(waiting_expression(TARGET_MS), series)
    return alarm_starts(values, WAITING_PERIODS, WAITING_DATAPOINTS)


def test_steady_load_never_fires_the_alarm() -> None:
    # The example stack: 2 tasks/s, 1 s handlers, one task of 16 slots; three hours, and at
    # 11 tasks/s (70 % of the slots) too.
    for rate in (2.0, 11.0):
        series = simulate(lambda _, r=rate: r, slots=16, minutes=180, mean_seconds=1.0, seed=7)
        assert sum(m.scheduled for m in series) > rate * 60 * 170
        assert _new(series) == [], rate


def test_the_old_alarm_fired_on_noise_at_the_same_load() -> None:
    series = simulate(lambda _: 11.0, slots=16, minutes=180, mean_seconds=1.0, seed=7)
    # At 70 % of the slots some tasks queue for a moment; one scheduled at the end of a
    # minute starts in the next: scheduled > started in two minutes running happens again
    # and again, and each time scaled the service out, though no task waited a second.
    assert len(alarm_starts(evaluate(NOISY, series), 2, 2)) >= 3
    assert max(m.wait_p90_ms or 0 for m in series) < 1000


def test_a_real_backlog_fires_within_minutes() -> None:
    # 2 tasks/s for 30 minutes, then 20/s against 16 slots of 1 s: the queue grows 4 tasks/s.
    surge = 30
    series = simulate(
        lambda m: 2.0 if m < surge else 20.0, slots=16, minutes=60, mean_seconds=1.0, seed=11
    )
    starts = _new(series)
    assert starts, "the backlog was missed"
    assert surge <= starts[0] <= surge + 8
    # It stays in ALARM (one start) while the backlog lasts: no flapping.
    assert len(starts) == 1


def test_work_with_no_worker_fires_the_alarm() -> None:
    # The service at 0 tasks: 3 tasks a minute arrive and none starts.
    series = simulate(lambda _: 0.05, slots=0, minutes=10, mean_seconds=1.0, seed=3)
    assert all(m.started == 0 for m in series)
    starts = _new(series)
    assert starts
    assert starts[0] <= WAITING_PERIODS
