"""The handlers our worker runs in the benchmarks (``fleet run apps:trivial`` and so on)."""

from __future__ import annotations

import os

import anyio

from fleet import Fleet, Task

ACTIVITY = os.environ.get("BENCH_ACTIVITY", "bench")
SLEEP = float(os.environ.get("BENCH_SLEEP", "0"))

trivial = Fleet()


@trivial.activity(ACTIVITY)
async def nothing(task: Task) -> dict[str, bool]:
    """Return at once: the benchmark measures the worker, not the work."""
    return {"ok": True}


sleeper = Fleet()


@sleeper.activity(ACTIVITY, heartbeat_seconds=float(os.environ.get("BENCH_HEARTBEAT", "10")))
async def wait(task: Task) -> dict[str, bool]:
    """Wait ``BENCH_SLEEP`` seconds, as a task waiting on something else would."""
    await anyio.sleep(SLEEP)
    return {"ok": True}


drainer = Fleet()


@drainer.activity(ACTIVITY, heartbeat_seconds=float(os.environ.get("BENCH_HEARTBEAT", "10")))
async def first_attempt_waits(task: Task) -> dict[str, int | None]:
    """Wait ``BENCH_SLEEP`` seconds on the first attempt; a retry finishes at once."""
    if (task.attempt or 1) == 1:
        await anyio.sleep(SLEEP)
    return {"attempt": task.attempt}
