"""Measures event-loop lag: how late a timer fires, which is how long the loop was blocked."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

from fleet._errors import ConfigurationError
from fleet._logging import get_logger

if TYPE_CHECKING:
    from fleet._gc import Collector

_log = get_logger("loop")


def use_uvloop(choice: str) -> bool:
    """Whether to run on uvloop for ``FLEET_EVENT_LOOP`` (``auto``: when it is installed).

    Raises ConfigurationError when uvloop is asked for but not installed.
    """
    if choice == "asyncio":
        return False
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if choice == "uvloop":
            raise ConfigurationError(
                "FLEET_EVENT_LOOP=uvloop but uvloop is not installed: "
                "pip install 'sfn-fleet[uvloop]'"
            ) from None
        return False
    return True


class LagMonitor:
    """Keeps ``lag_seconds``, the worst lag of the last ``window`` seconds, up to date.

    A window rather than the last sample, so that a scrape every 15 s still sees a block
    that happened between scrapes. Warns when the loop was blocked, and says by whom: the
    runtime's garbage collection when the ``collector`` timed a pause that explains most of
    the lag, a handler otherwise.
    """

    def __init__(
        self,
        interval: float = 0.25,
        warn_seconds: float = 0.5,
        window: float = 15.0,
        *,
        collector: Collector | None = None,
        in_flight: Callable[[], int] = lambda: 0,
    ) -> None:
        self.interval = interval
        self.warn_seconds = warn_seconds
        self._collector = collector
        self._in_flight = in_flight
        self._samples: deque[tuple[float, float]] = deque(maxlen=max(1, int(window / interval)))

    @property
    def lag_seconds(self) -> float:
        """The largest lag sampled in the window."""
        return max((lag for _, lag in self._samples), default=0.0)

    async def run(self) -> None:
        """Sample the lag until cancelled."""
        while True:
            before = time.monotonic()
            await anyio.sleep(self.interval)
            now = time.monotonic()
            lag = max(0.0, now - before - self.interval)
            self._samples.append((now, lag))
            if lag >= self.warn_seconds:
                self._warn(lag, before, now)

    def _warn(self, lag: float, before: float, now: float) -> None:
        collected = self._collector.paused_between(before, now) if self._collector else 0.0
        extra = {"lag_seconds": round(lag, 3), "in_flight": self._in_flight()}
        if collected >= lag / 2:
            _log.warning(
                "event loop was blocked by the runtime's garbage collection, not by a handler",
                extra={**extra, "gc_seconds": round(collected, 3)},
            )
        else:
            _log.warning(
                "event loop was blocked; run CPU-bound or blocking handlers as plain def "
                "(they go to the thread pool)",
                extra=extra,
            )
