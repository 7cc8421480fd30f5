"""Shared service state of one endpoint: store, tokens, clock, randomness, counters."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fleet.emulator._activities import ActivityTask
from fleet.emulator._mocks import MockConfig
from fleet.emulator._options import EmulatorOptions
from fleet.emulator._stats import EmulatorStats
from fleet.emulator._store import Store
from fleet.emulator._tokens import TokenBook

if TYPE_CHECKING:
    from fleet.emulator._interpreter import Execution


class Runtime:
    """What operations and running executions share; lives as long as the endpoint."""

    def __init__(self, options: EmulatorOptions, stats: EmulatorStats) -> None:
        self.options = options
        self.stats = stats
        self.store = Store()
        self.tokens: TokenBook[ActivityTask] = TokenBook()
        self.running: set[Execution] = set()
        self._seed = options.seed
        self._rng = random.Random(options.seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._mocks: tuple[str, MockConfig] | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the endpoint serves in (bound on first start)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    @property
    def rng(self) -> random.Random:
        """Randomness for faults and jitter; re-seeded when the `seed` option changes."""
        if self.options.seed != self._seed:
            self._seed = self.options.seed
            self._rng = random.Random(self._seed)
        return self._rng

    @property
    def mocks(self) -> MockConfig | None:
        """The mock configuration named by the `mock_config` option, loaded once per path.

        Raises MockConfigError when the file cannot be read or is malformed.
        """
        path = self.options.mock_config
        if path is None:
            return None
        if self._mocks is None or self._mocks[0] != path:
            self._mocks = (path, MockConfig.load(path))
        return self._mocks[1]

    def real_seconds(self, service_seconds: float) -> float:
        """Real seconds that `service_seconds` of service time take at the current time scale."""
        return service_seconds / self.options.time_scale

    def later(
        self, service_seconds: float, callback: Callable[..., Any], *args: Any
    ) -> asyncio.TimerHandle:
        """Run `callback` after `service_seconds` of (scaled) service time."""
        return self.loop.call_later(self.real_seconds(service_seconds), callback, *args)

    def reset(self) -> None:
        """Forget every resource, execution and token; held polls are answered with no task.

        Running executions stop where they are (their timers are cancelled) and vanish with
        the store; a token issued before is `InvalidToken` afterwards.
        """
        for execution in list(self.running):
            execution.cancel_timers()
        for queue in self.store.queues.values():
            for poll in list(queue.polls):
                poll.expire()
            queue.polls.clear()
        self.store = Store()
        self.tokens = TokenBook()
        self.running = set()
        self._seed = self.options.seed
        self._rng = random.Random(self._seed)

    def close(self) -> None:
        """Cancel every timer: executions stay as they are (RUNNING), held polls are dropped."""
        for execution in list(self.running):
            execution.cancel_timers()
        for queue in self.store.queues.values():
            for poll in queue.polls:
                poll.cancel()
            queue.polls.clear()
