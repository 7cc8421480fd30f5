"""Heartbeats for one running task, never racing its result.

They go out automatically at ~0.8x HeartbeatSeconds, coalesced with the handler's own
``task.heartbeat()`` calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any

import anyio

from fleet._api import Api, ApiError
from fleet._metrics import Metrics

#: Heartbeat at this fraction of HeartbeatSeconds (Temporal's choice), minus up to 10% jitter.
FRACTION = 0.8


def interval_for(heartbeat_seconds: float) -> float:
    """Seconds between automatic heartbeats for a Task state's HeartbeatSeconds."""
    return heartbeat_seconds * FRACTION


class Heartbeater:
    """Sends a task's heartbeats until stopped; tells the owner when the task is gone.

    ``request()`` may be called from any thread. ``stop()`` waits for a heartbeat in flight to
    finish, so the result never races a heartbeat.
    """

    def __init__(
        self,
        *,
        api: Api,
        metrics: Metrics,
        activity: str,
        token: str,
        heartbeat_seconds: float,
        on_gone: Callable[[str], None],
        log: logging.LoggerAdapter[Any],
    ) -> None:
        self._api = api
        self._metrics = metrics
        self._activity = activity
        self._token = token
        self._interval = interval_for(heartbeat_seconds)
        # A handler calling heartbeat() in a tight loop sends at most one per this many seconds.
        self._min_gap = min(self._interval, max(1.0, self._interval / 10))
        self._on_gone = on_gone
        self._log = log
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._requested = False
        self._stopped = False
        self._sending = anyio.Lock()
        self._last_sent = anyio.current_time()

    def request(self) -> None:
        """Ask for a heartbeat soon (coalesced with other requests and the automatic ones)."""
        self._requested = True
        # A closed loop means nothing is waiting for heartbeats any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """Heartbeat until ``stop()`` or until the service says the task is gone."""
        due = self._last_sent + self._jittered()
        while not self._stopped:
            now = anyio.current_time()
            if self._requested:
                due = min(due, self._last_sent + self._min_gap)
            if now < due:
                self._wake.clear()
                with anyio.move_on_after(due - now):
                    await self._wake.wait()
                continue
            async with self._sending:
                if self._stopped:
                    return
                self._requested = False
                next_due = await self._beat()
                if next_due is None:
                    return
                due = next_due

    async def _beat(self) -> float | None:
        """Send one heartbeat; return when the next is due, or None when the task is gone."""
        try:
            await self._api.call(
                "SendTaskHeartbeat",
                timeout=max(1.0, min(10.0, self._interval)),
                taskToken=self._token,
            )
        except ApiError as exc:
            if exc.task_gone:
                self._count("task_gone")
                self._log.info(
                    "heartbeat says the task is gone; cancelling it", extra={"code": exc.code}
                )
                self._on_gone(exc.code)
                return None
            self._count("throttled" if exc.outcome == "throttled" else "error")
            self._log.warning(
                "heartbeat failed; retrying soon", extra={"code": exc.code, "outcome": exc.outcome}
            )
            # Retry well before the service's heartbeat clock runs out.
            return anyio.current_time() + random.uniform(0.5, 1.0) * min(5.0, self._interval / 4)
        self._count("ok")
        self._last_sent = anyio.current_time()
        return self._last_sent + self._jittered()

    async def stop(self) -> None:
        """Stop heartbeating, after any heartbeat in flight has finished."""
        self._stopped = True
        self._wake.set()
        async with self._sending:
            pass

    def _jittered(self) -> float:
        return self._interval * random.uniform(0.9, 1.0)

    def _count(self, result: str) -> None:
        self._metrics.heartbeats.labels(activity=self._activity, result=result).inc()
