"""A token bucket: the shape of Step Functions' API quotas, for the endpoint and for pacing."""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio


class TokenBucket:
    """``burst`` tokens, refilled at ``refill`` per second of ``clock`` (monotonic by default).

    The local endpoint refuses a call when ``try_take`` finds no token; a client paces itself
    with ``take``, which waits for one.
    """

    __slots__ = ("capacity", "clock", "refill", "stamp", "tokens")

    def __init__(
        self, burst: float, refill: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity = float(burst)
        self.refill = refill
        self.clock = clock
        self.tokens = float(burst)
        self.stamp = clock()

    def try_take(self) -> bool:
        """Take a token if there is one; False when the bucket is empty."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.refill)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    async def take(self) -> None:
        """Wait until a token is there, then take it."""
        while True:
            if self.try_take():
                return
            # Sleep until the refill makes up the missing part of a token.
            await anyio.sleep((1 - self.tokens) / self.refill)
