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


def run_queue_seconds() -> float:
    """Seconds this thread has waited for a CPU while ready to run (0 where Linux does not say)."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as stats:
            return int(stats.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


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
    that happened between scrapes. Warns when the loop was late, and says why: the host gave
    the loop's thread no CPU (it waited on the run queue for most of the lag, per
    /proc/thread-self/schedstat), the runtime's garbage collection (the ``collector`` timed
    a pause that explains most of it), or else a handler.
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
            before, waited_before = time.monotonic(), run_queue_seconds()
            await anyio.sleep(self.interval)
            now = time.monotonic()
            lag = max(0.0, now - before - self.interval)
            self._samples.append((now, lag))
            if lag >= self.warn_seconds:
                self._warn(lag, before, now, run_queue_seconds() - waited_before)

    def _warn(self, lag: float, before: float, now: float, waited: float) -> None:
        collected = self._collector.paused_between(before, now) if self._collector else 0.0
        extra = {"lag_seconds": round(lag, 3), "in_flight": self._in_flight()}
        cause = blame(lag, collected, waited)
        if cause == "gc":
            _log.warning(
                "event loop was blocked by the runtime's garbage collection, not by a handler",
                extra={**extra, "gc_seconds": round(collected, 3)},
            )
        elif cause == "host":
            _log.warning(
                "event loop ran late because the host gave the process too little CPU, "
                "not because of a handler",
                extra={**extra, "cpu_wait_seconds": round(waited, 3)},
            )
        else:
            _log.warning(
                "event loop was blocked; run CPU-bound or blocking handlers as plain def "
                "(they go to the thread pool)",
                extra=extra,
            )


def blame(lag: float, gc_seconds: float, cpu_wait_seconds: float) -> str:
    """Who made the loop ``lag`` seconds late: ``gc``, the ``host``, or a ``handler``.

    The collector's own pause explains it when it covers half the lag; else a thread that
    spent half the lag waiting for a CPU was starved by the host; else something in the
    loop ran that long, and the runtime's own work is bounded, so a handler.
    """
    if gc_seconds >= lag / 2:
        return "gc"
    if cpu_wait_seconds >= lag / 2:
        return "host"
    return "handler"
