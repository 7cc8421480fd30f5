"""After a drain, /metrics keeps answering until one scrape has read the final numbers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from fleet._logging import get_logger

if TYPE_CHECKING:
    from fleet._settings import Settings
    from fleet._supervisor import Supervisor

_log = get_logger("worker")


class Scrapes:
    """Counts the answers of /metrics, and wakes whoever waits for the next one."""

    def __init__(self) -> None:
        self.count = 0
        self._next = anyio.Event()

    def note(self) -> None:
        """Count an answer of /metrics (the listener calls this)."""
        self.count += 1
        self._next.set()
        self._next = anyio.Event()

    async def wait_next(self) -> None:
        """Wait for the next answer of /metrics."""
        await self._next.wait()


#: The linger ends this long before the drain budget does, leaving time to exit.
_LINGER_MARGIN_SECONDS = 0.5


async def linger(sup: Supervisor, settings: Settings, scraped: Scrapes) -> None:
    """After a drain, keep /metrics answering until one scrape has read the final numbers.

    Without it, the outcomes of the drain's last seconds (fail-backs above all) would never
    reach Prometheus. Bounded by the setting and by the drain budget; skipped after a second
    stop request.
    """
    end = sup.drain_deadline
    if end is None or sup.urgent or settings.metrics_linger_seconds <= 0:
        return
    seconds = min(
        settings.metrics_linger_seconds,
        end - _LINGER_MARGIN_SECONDS - anyio.current_time(),
    )
    if seconds <= 0:
        return
    _log.info(
        "drained; /metrics answers until its next scrape",
        extra={"linger_seconds": round(seconds, 1)},
    )
    with anyio.move_on_after(seconds):
        await scraped.wait_next()
