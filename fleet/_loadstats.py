"""The numbers of a load test, and the thresholds that decide its exit status.

Percentiles, histograms, a time series and per-state durations, from the endpoint's clock.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from fleet._timeline import IN_STATE, RAN, WAITED, rows

#: Histogram bucket upper bounds in seconds: 1-2-5 steps from 1 ms to 1 hour, then +Inf.
BUCKETS: tuple[float, ...] = (
    *(round(m * 10.0**e, 6) for e in range(-3, 4) for m in (1, 2, 5)),
    1800.0,
    3600.0,
    math.inf,
)

PERCENTILES = ("p50", "p90", "p95", "p99")


def percentiles(values: list[float]) -> dict[str, float | None]:
    """min, avg, p50, p90, p95, p99 (nearest rank) and max of ``values``; None when empty."""
    keys = ("min", "avg", *PERCENTILES, "max")
    if not values:
        return dict.fromkeys(keys)
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    out: dict[str, float | None] = {"min": ordered[0], "avg": sum(ordered) / len(ordered)}
    out.update({key: rank(float(key[1:])) for key in PERCENTILES})
    out["max"] = ordered[-1]
    return out


def rounded(values: dict[str, float | None]) -> dict[str, float | None]:
    """``values`` rounded to 0.1 ms, for reports."""
    return {k: (round(v, 4) if v is not None else None) for k, v in values.items()}


def histogram(values: list[float]) -> list[dict[str, Any]]:
    """Counts per bucket, from the first bucket with a value to the last.

    ``le`` is the bucket's upper bound in seconds, ``"+Inf"`` for the last.
    """
    counts = [0] * len(BUCKETS)
    for value in values:
        for i, bound in enumerate(BUCKETS):
            if value <= bound:
                counts[i] += 1
                break
    used = [i for i, c in enumerate(counts) if c]
    if not used:
        return []
    return [
        {"le": "+Inf" if math.isinf(BUCKETS[i]) else BUCKETS[i], "count": counts[i]}
        for i in range(used[0], used[-1] + 1)
    ]


@dataclass
class Closed:
    """One finished execution: when it started and stopped (endpoint clock) and how."""

    started: float
    stopped: float
    status: str


def time_series(
    starts: list[float], closed: list[Closed], origin: float, step: float = 1.0
) -> list[dict[str, Any]]:
    """Executions started, succeeded and failed per ``step`` seconds since ``origin``.

    Each row also has the p50 and p99 latency of the executions that finished in it.
    """
    if not starts and not closed:
        return []
    end = max([*starts, *(c.stopped for c in closed)])
    slots = int((end - origin) // step) + 1
    rows: list[dict[str, Any]] = [
        {"t": round(i * step, 3), "started": 0, "succeeded": 0, "failed": 0} for i in range(slots)
    ]
    latencies: dict[int, list[float]] = defaultdict(list)
    for moment in starts:
        rows[max(0, int((moment - origin) // step))]["started"] += 1
    for c in closed:
        i = max(0, int((c.stopped - origin) // step))
        rows[i]["succeeded" if c.status == "SUCCEEDED" else "failed"] += 1
        latencies[i].append(c.stopped - c.started)
    for i, row in enumerate(rows):
        p = percentiles(latencies.get(i, []))
        row["p50_seconds"] = round(p["p50"], 4) if p["p50"] is not None else None
        row["p99_seconds"] = round(p["p99"], 4) if p["p99"] is not None else None
    return rows


@dataclass
class StateTimes:
    """Durations gathered from execution histories, per state name."""

    in_state: dict[str, list[float]]
    schedule_to_start: dict[str, list[float]]
    task_run: dict[str, list[float]]
    errors: dict[str, int]


def state_times(histories: list[list[dict[str, Any]]]) -> StateTimes:
    """Durations per state, and the error names executions failed with.

    Per state: time in the state, the wait between a task's Scheduled and Started events,
    and the task's run (Started to Succeeded, Failed or TimedOut).
    """
    times = StateTimes(defaultdict(list), defaultdict(list), defaultdict(list), defaultdict(int))
    for events in histories:
        for row in rows(events):
            for kind, into in ((IN_STATE, times.in_state), (WAITED, times.schedule_to_start),
                               (RAN, times.task_run)):  # fmt: skip
                if kind in row.durations:
                    into[row.state].append(row.durations[kind])
            if row.type in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
                name = row.error or {
                    "ExecutionTimedOut": "States.Timeout", "ExecutionAborted": "Aborted",
                }.get(row.type, "unknown")  # fmt: skip
                times.errors[name] += 1
    return times


_THRESHOLD = re.compile(r"^(?P<stat>p50|p90|p95|p99|avg|max)\s*=\s*(?P<seconds>\d+(\.\d+)?)$")


@dataclass(frozen=True)
class Threshold:
    """A limit the run must keep, like k6's thresholds: a statistic and its maximum."""

    name: str
    limit: float

    @classmethod
    def latency(cls, text: str) -> Threshold:
        """``p99=2.5`` (seconds; p50, p90, p95, p99, avg or max). Raises ValueError."""
        match = _THRESHOLD.match(text.strip())
        if match is None:
            raise ValueError(
                f"--max-latency must look like p99=2.5 (p50, p90, p95, p99, avg or max, "
                f"in seconds), got {text!r}"
            )
        return cls(match.group("stat"), float(match.group("seconds")))

    def check(self, value: float | None) -> dict[str, Any]:
        """The verdict for the measured ``value`` (None: nothing measured, which fails)."""
        passed = value is not None and value <= self.limit
        return {"name": self.name, "limit": self.limit, "value": value, "passed": passed}
