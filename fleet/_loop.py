"""Measures event-loop lag: how late a timer fires, which is how long the loop was blocked."""

from __future__ import annotations

from collections import deque

import anyio

from fleet._logging import get_logger

_log = get_logger("loop")


class LagMonitor:
    """Keeps ``lag_seconds``, the worst lag of the last ``window`` seconds, up to date.

    A window rather than the last sample, so that a scrape every 15 s still sees a block
    that happened between scrapes. Warns when a handler blocks the loop.
    """

    def __init__(
        self, interval: float = 0.25, warn_seconds: float = 0.5, window: float = 15.0
    ) -> None:
        self.interval = interval
        self.warn_seconds = warn_seconds
        self._samples: deque[tuple[float, float]] = deque(maxlen=max(1, int(window / interval)))

    @property
    def lag_seconds(self) -> float:
        """The largest lag sampled in the window."""
        return max((lag for _, lag in self._samples), default=0.0)

    async def run(self) -> None:
        """Sample the lag until cancelled."""
        while True:
            before = anyio.current_time()
            await anyio.sleep(self.interval)
            now = anyio.current_time()
            lag = max(0.0, now - before - self.interval)
            self._samples.append((now, lag))
            if lag >= self.warn_seconds:
                _log.warning(
                    "event loop was blocked; run CPU-bound or blocking handlers as plain def "
                    "(they go to the thread pool)",
                    extra={"lag_seconds": round(lag, 3)},
                )
