"""A process's share of the account's API buckets, which every per-task call draws from.

Step Functions keeps one token bucket per API per account and region (GetActivityTask,
SendTaskHeartbeat, SendTaskSuccess, SendTaskFailure each refill 500/s in the large regions).
Every process of a fleet draws from the same buckets, so N processes that each keep below
refill / N never throttle one another. ``FLEET_API_RATE`` is that share: calls per second
per API for this process (deploy sets it from the service's maximum task count). Polls,
heartbeats and reports all take their permits here, so no kind of call can starve the
account's bucket of another process.

Each bucket holds one second of its rate, so a process never bursts above its share for
long; a caller that finds it empty waits for a token, up to its own deadline.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import anyio

#: The operations that draw from a budget bucket of their own, as the service's buckets do.
BUDGETED = ("GetActivityTask", "SendTaskHeartbeat", "SendTaskSuccess", "SendTaskFailure")


class TokenBucket:
    """Tokens that refill at ``rate`` per second up to ``burst``, on an injectable clock."""

    __slots__ = ("_clock", "_stamp", "burst", "rate", "tokens")

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self._clock = clock
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self.tokens = min(self.burst, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def take(self) -> bool:
        """Take one token if there is one."""
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def wait_seconds(self) -> float:
        """Seconds until a token will be there (0 when one is there now)."""
        self._refill()
        return max(0.0, (1 - self.tokens) / self.rate)


class Budget:
    """Per-API permits at ``rate`` calls per second each; ``rate`` None means unlimited."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = anyio.current_time) -> None:
        self.rate = rate
        self._buckets: dict[str, TokenBucket] = {}
        if rate is not None:
            burst = max(1.0, rate)
            self._buckets = {op: TokenBucket(rate, burst, clock) for op in BUDGETED}
        self._clock = clock
        self._locks: dict[str, anyio.Lock] = {}

    def limits(self, operation: str) -> bool:
        """True when ``operation`` draws from a bucket of this budget."""
        return operation in self._buckets

    def try_take(self, operation: str) -> bool:
        """Take a permit for ``operation`` now if one is there (always, when unlimited)."""
        bucket = self._buckets.get(operation)
        return bucket is None or bucket.take()

    def wait_seconds(self, operation: str) -> float:
        """Seconds until ``operation`` will have a permit."""
        bucket = self._buckets.get(operation)
        return 0.0 if bucket is None else bucket.wait_seconds()

    async def acquire(self, operation: str, deadline: float = math.inf) -> bool:
        """Wait for a permit for ``operation``; False if ``deadline`` comes first.

        Callers wait their turn on a lock, so that only the first in line polls the bucket:
        thousands of waiters each polling it would wake thousands of times a permit.
        """
        bucket = self._buckets.get(operation)
        if bucket is None or bucket.take():
            return True
        lock = self._locks.get(operation)
        if lock is None:
            lock = self._locks[operation] = anyio.Lock()
        with anyio.move_on_after(max(0.0, deadline - self._clock())):
            async with lock:
                while not bucket.take():
                    wait = bucket.wait_seconds()
                    if self._clock() + wait > deadline:
                        return False
                    await anyio.sleep(wait)
                return True
        return False
