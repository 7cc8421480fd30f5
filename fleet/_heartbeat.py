"""Heartbeats for every running task, from one scheduler, never racing a task's result.

Each task's heartbeats go out automatically at ~0.8x its HeartbeatSeconds (with jitter),
coalesced with the handler's own ``task.heartbeat()`` calls. One scheduler loop serves all
tasks, so a task costs a heap entry rather than a timer task of its own; thousands of long
tasks in flight cost almost nothing between beats.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import random
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc

from fleet._api import Api, ApiError
from fleet._metrics import Metrics

#: Heartbeat at this fraction of HeartbeatSeconds (Temporal's choice), minus up to 10% jitter.
FRACTION = 0.8


def interval_for(heartbeat_seconds: float) -> float:
    """Seconds between automatic heartbeats for a Task state's HeartbeatSeconds."""
    return heartbeat_seconds * FRACTION


class Beat:
    """One task's heartbeat state. ``request()`` may be called from any thread."""

    def __init__(
        self,
        scheduler: HeartbeatScheduler,
        *,
        activity: str,
        token: str,
        heartbeat_seconds: float,
        on_gone: Callable[[str], None],
        log: logging.LoggerAdapter[Any],
    ) -> None:
        self._scheduler = scheduler
        self.activity = activity
        self.token = token
        self.interval = interval_for(heartbeat_seconds)
        # A handler calling heartbeat() in a tight loop sends at most one per this many seconds.
        self.min_gap = min(self.interval, max(1.0, self.interval / 10))
        self.on_gone = on_gone
        self.log = log
        self.last_sent = anyio.current_time()
        self.due = self.last_sent + self.jittered()
        self.stopped = False
        self.sending: asyncio.Future[None] | None = None

    def jittered(self) -> float:
        """The next automatic interval, jittered so that many tasks do not beat in step."""
        return self.interval * random.uniform(0.9, 1.0)

    def request(self) -> None:
        """Ask for a heartbeat soon (coalesced with other requests and the automatic ones)."""
        self._scheduler.expedite_threadsafe(self)

    async def stop(self) -> None:
        """Stop heartbeating, after any heartbeat in flight has finished."""
        self.stopped = True
        if self.sending is not None:
            await asyncio.shield(self.sending)


class HeartbeatScheduler:
    """Sends every registered task's heartbeats when due, until cancelled."""

    def __init__(self, api: Api, metrics: Metrics) -> None:
        self._api = api
        self._metrics = metrics
        self._heap: list[tuple[float, int, Beat]] = []
        self._order = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._tg: anyio.abc.TaskGroup | None = None

    def add(self, **kwargs: Any) -> Beat:
        """Start heartbeating a task; see ``Beat`` for the arguments."""
        beat = Beat(self, **kwargs)
        self._push(beat)
        return beat

    def _push(self, beat: Beat) -> None:
        heapq.heappush(self._heap, (beat.due, next(self._order), beat))
        if self._wake is not None and self._heap[0][2] is beat:
            self._wake.set()

    def expedite_threadsafe(self, beat: Beat) -> None:
        """Bring a task's next heartbeat forward, from any thread."""
        if self._loop is None:
            return
        # A closed loop means nothing is waiting for heartbeats any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._expedite, beat)

    def _expedite(self, beat: Beat) -> None:
        soonest = beat.last_sent + beat.min_gap
        if not beat.stopped and beat.sending is None and soonest < beat.due:
            beat.due = soonest
            self._push(beat)  # the old heap entry is skipped when it comes up

    async def run(self) -> None:
        """Send heartbeats as they fall due, until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        async with anyio.create_task_group() as tg:
            self._tg = tg
            while True:
                now = anyio.current_time()
                while self._heap and self._heap[0][0] <= now:
                    due, _, beat = heapq.heappop(self._heap)
                    if beat.stopped or beat.sending is not None or due != beat.due:
                        continue  # stopped, busy, or an entry superseded by a newer one
                    beat.sending = self._loop.create_future()
                    tg.start_soon(self._send, beat)
                self._wake.clear()
                timeout = self._heap[0][0] - now if self._heap else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)

    async def _send(self, beat: Beat) -> None:
        assert beat.sending is not None
        try:
            await self._api.call(
                "SendTaskHeartbeat", timeout=max(1.0, min(10.0, beat.interval)),
                taskToken=beat.token,
            )  # fmt: skip
        except ApiError as exc:
            if exc.task_gone:
                self._count(beat, "task_gone")
                beat.log.info("heartbeat says the task is gone; cancelling it",
                              extra={"code": exc.code})  # fmt: skip
                beat.stopped = True
                beat.on_gone(exc.code)
                return
            self._count(beat, "throttled" if exc.outcome == "throttled" else "error")
            beat.log.warning("heartbeat failed; retrying soon",
                             extra={"code": exc.code, "outcome": exc.outcome})  # fmt: skip
            # Retry well before the service's heartbeat clock runs out.
            beat.due = anyio.current_time() + random.uniform(0.5, 1.0) * min(5.0, beat.interval / 4)
        else:
            self._count(beat, "ok")
            beat.last_sent = anyio.current_time()
            beat.due = beat.last_sent + beat.jittered()
        finally:
            sending, beat.sending = beat.sending, None
            sending.set_result(None)
        if not beat.stopped:
            self._push(beat)

    def _count(self, beat: Beat, result: str) -> None:
        self._metrics.child(self._metrics.heartbeats, beat.activity, result).inc()
