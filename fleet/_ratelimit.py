"""Per-activity rate limits (``rate_limit="30/m"``): how many tasks may start per period.

A rate-limited activity polls only when a task may start at once, one poll at a time, so a
task never arrives that has to wait; starts are spread evenly (``30/m`` is one every two
seconds) rather than bunched at the start of each minute. It suits the limits of downstream
APIs (a few per second or less), not thousands of tasks per second.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio

_PERIODS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0,
            "h": 3600.0, "hour": 3600.0}  # fmt: skip
_FORM = re.compile(r"^\s*(?P<count>\d+(?:\.\d+)?)\s*/\s*(?P<period>[a-z]+)\s*$")


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` task starts per ``period_seconds``."""

    count: float
    period_seconds: float

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``"30/m"``, ``"5/s"``, ``"100/h"`` (also ``sec``, ``min``, ``hour``).

        Raises ValueError naming what is wrong.
        """
        match = _FORM.match(text.lower()) if isinstance(text, str) else None
        period = _PERIODS.get(match.group("period")) if match else None
        if match is None or period is None:
            raise ValueError(
                f"rate_limit must look like '30/m' (a number per s, m or h), got {text!r}"
            )
        count = float(match.group("count"))
        if count <= 0:
            raise ValueError(f"rate_limit must allow at least some tasks, got {text!r}")
        return cls(count, period)

    @property
    def per_second(self) -> float:
        """The limit as tasks per second."""
        return self.count / self.period_seconds

    def __str__(self) -> str:
        unit = {1.0: "s", 60.0: "m", 3600.0: "h"}[self.period_seconds]
        return f"{self.count:g}/{unit}"


class RateLimiter:
    """The pacing of one activity's polls under a ``RateLimit``.

    A token bucket of capacity one, refilled at the limit's rate. A poll waits for its turn:
    a token present and no other poll of the activity in flight; the token is spent only when
    the poll brings a task. So starts are at least ``1 / rate`` apart, however long polls are
    held. ``clock`` and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._sleep = sleep
        self._tokens = 1.0
        self._stamp = clock()
        self._lock = anyio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(1.0, self._tokens + (now - self._stamp) * self.limit.per_second)
        self._stamp = now

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait until a task may start and no other poll is in flight; hold that turn."""
        async with self._lock:
            while True:
                self._refill()
                if self._tokens >= 1.0:
                    break
                await self._sleep((1.0 - self._tokens) / self.limit.per_second)
            yield

    def spend(self) -> None:
        """A poll brought a task: it starts now, and the next waits its turn."""
        self._refill()
        self._tokens -= 1.0
