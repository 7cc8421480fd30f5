"""Slots: the right to run one task, taken before the poll that may bring it.

Each activity has a pool of ``concurrency`` slots under one process-wide pool. A slot holds
one place in both; whoever holds it (a poll in flight, then the task it brought) releases it
once, when the task's outcome has been reported.
"""

from __future__ import annotations

import anyio


class Slot:
    """One place in an activity pool and in the process pool. ``release()`` is idempotent."""

    __slots__ = ("_pool", "_released")

    def __init__(self, pool: SlotPool) -> None:
        self._pool = pool
        self._released = False

    def release(self) -> None:
        """Give the place back to both pools (once; later calls do nothing)."""
        if not self._released:
            self._released = True
            self._pool._release(self)


class SlotPool:
    """The slots of one activity, each also taking a place in the shared ``process`` limiter."""

    def __init__(self, capacity: int, process: anyio.CapacityLimiter) -> None:
        if capacity < 1:
            raise ValueError(f"slot capacity must be at least 1, got {capacity}")
        self._own = anyio.CapacityLimiter(capacity)
        self._process = process

    @property
    def capacity(self) -> int:
        """How many tasks this activity may have in flight (its share of the process cap)."""
        return min(int(self._own.total_tokens), int(self._process.total_tokens))

    @property
    def in_use(self) -> int:
        """Slots held by polls in flight and by tasks."""
        return int(self._own.borrowed_tokens)

    @property
    def free(self) -> int:
        """Slots that could be taken now without waiting."""
        return max(0, min(int(self._own.available_tokens), int(self._process.available_tokens)))

    async def acquire(self) -> Slot:
        """Wait for a free slot, first in this activity's pool, then in the process pool."""
        slot = Slot(self)
        await self._own.acquire_on_behalf_of(slot)
        try:
            await self._process.acquire_on_behalf_of(slot)
        except BaseException:
            self._own.release_on_behalf_of(slot)
            raise
        return slot

    def _release(self, slot: Slot) -> None:
        self._process.release_on_behalf_of(slot)
        self._own.release_on_behalf_of(slot)
