"""Keeping the cyclic garbage collector from blocking the loop when many tasks are in flight.

A full collection walks every tracked object, and each task in flight holds a few hundred of
them for as long as it runs: with 100,000 tasks in flight one full collection blocks the
loop for seconds, and CPython starts one whenever the long-lived objects have grown by a
quarter. Objects that have already lived a while are rarely garbage, and when they become
garbage reference counting frees them. So the worker *freezes* them (``gc.freeze()``: they
move to a generation the collector never walks) at start-up and then every second, after a
young collection has cleared what died young; full collections then walk only what arrived
in the last second. (Once a minute is not enough: at 500 new tasks a second, a minute's
arrivals still take a collection over a second to walk.)

The price: a reference *cycle* among frozen objects that becomes garbage is kept until the
next thaw. The runtime's own path makes no such cycles; handlers might. So the collector
thaws everything and collects once the process has nothing in flight, and at most once an
hour regardless (one pause an hour rather than several a minute).

The pauses the collector does make are timed (``gc.callbacks``), so that the lag warning
can say when the runtime, not a handler, blocked the loop.
"""

from __future__ import annotations

import gc
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import anyio

from fleet._logging import get_logger

_log = get_logger("gc")


class Collector:
    """Freezes survivors periodically, thaws when idle, and times every collection."""

    def __init__(
        self,
        in_flight: Callable[[], int],
        *,
        freeze_every: float = 1.0,
        thaw_every: float = 3600.0,
    ) -> None:
        self._in_flight = in_flight
        self.freeze_every = freeze_every
        self.thaw_every = thaw_every
        #: (ended at, seconds) of recent collections, on the monotonic clock.
        self.pauses: deque[tuple[float, float]] = deque(maxlen=256)
        self._started: float | None = None

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        now = time.monotonic()
        if phase == "start":
            self._started = now
        elif self._started is not None:
            self.pauses.append((now, now - self._started))
            self._started = None

    def paused_between(self, start: float, end: float) -> float:
        """Seconds the collector ran between two ``time.monotonic()`` readings."""
        # A collection can start while the pauses are copied, and its callback would change
        # them mid-iteration: copy them with the collector off.
        enabled = gc.isenabled()
        gc.disable()
        try:
            pauses = list(self.pauses)
        finally:
            if enabled:
                gc.enable()
        return sum(seconds for ended, seconds in pauses if start <= ended <= end + 0.001)

    def freeze(self) -> None:
        """Clear the young generations, then move every survivor out of the collector's walk."""
        gc.collect(1)
        gc.freeze()

    def thaw(self) -> None:
        """Give every frozen object back to the collector and collect once."""
        gc.unfreeze()
        gc.collect()

    async def run(self) -> None:
        """Freeze, thaw and time collections until cancelled."""
        gc.callbacks.append(self._callback)
        try:
            self.freeze()  # start-up objects: modules, the botocore models, the app
            last_thaw = anyio.current_time()
            thawed_idle = True
            while True:
                await anyio.sleep(self.freeze_every)
                idle = self._in_flight() == 0
                now = anyio.current_time()
                if (idle and not thawed_idle) or now - last_thaw >= self.thaw_every:
                    started = time.perf_counter()
                    self.thaw()
                    self.freeze()
                    last_thaw, thawed_idle = now, idle
                    seconds = round(time.perf_counter() - started, 3)
                    _log.debug("thawed and collected the frozen objects",
                               extra={"seconds": seconds})  # fmt: skip
                else:
                    self.freeze()
                    thawed_idle = thawed_idle and idle
        finally:
            gc.callbacks.remove(self._callback)
            gc.unfreeze()
