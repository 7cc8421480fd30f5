"""Measures event-loop lag: how late a timer fires, which is how long the loop was blocked."""

from __future__ import annotations

import anyio

from fleet._logging import get_logger

_log = get_logger("loop")


class LagMonitor:
    """Keeps ``lag_seconds`` up to date; warns when a handler blocks the loop."""

    def __init__(self, interval: float = 0.25, warn_seconds: float = 0.5) -> None:
        self.interval = interval
        self.warn_seconds = warn_seconds
        self.lag_seconds = 0.0
        self.max_lag_seconds = 0.0

    async def run(self) -> None:
        """Sample the lag until cancelled."""
        while True:
            before = anyio.current_time()
            await anyio.sleep(self.interval)
            self.lag_seconds = max(0.0, anyio.current_time() - before - self.interval)
            self.max_lag_seconds = max(self.max_lag_seconds, self.lag_seconds)
            if self.lag_seconds >= self.warn_seconds:
                _log.warning(
                    "event loop was blocked; run CPU-bound or blocking handlers as plain def "
                    "(they go to the thread pool)",
                    extra={"lag_seconds": round(self.lag_seconds, 3)},
                )
