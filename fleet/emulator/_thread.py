"""The endpoint on its own event loop in a daemon thread, for synchronous callers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from fleet.emulator._options import EmulatorOptions
from fleet.emulator._stats import EmulatorStats

if TYPE_CHECKING:
    from fleet.emulator._emulator import Emulator

T = TypeVar("T")
_START_SECONDS = 10.0


class ThreadedEmulator:
    """Context manager: `with Emulator.in_thread(opts) as emu:`; the thread ends on exit."""

    def __init__(
        self, options: EmulatorOptions | None, host: str, port: int, *, console: bool = False
    ) -> None:
        self.options = options if options is not None else EmulatorOptions()
        self._console = console
        self._host, self._port = host, port
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._emulator: Emulator | None = None
        self._error: BaseException | None = None

    @property
    def emulator(self) -> Emulator:
        """The endpoint itself (touch it only through `call` from this thread)."""
        if self._emulator is None:
            raise RuntimeError("the threaded emulator is not running")
        return self._emulator

    @property
    def endpoint_url(self) -> str:
        """`http://<host>:<port>` of the listening socket."""
        return self.emulator.endpoint_url

    @property
    def console_url(self) -> str:
        """See `Emulator.console_url`."""
        return self.emulator.console_url

    @property
    def stats(self) -> EmulatorStats:
        """The endpoint's counters (read-only from this thread)."""
        return self.emulator.stats

    def __enter__(self) -> ThreadedEmulator:
        self._thread = threading.Thread(target=self._main, name="fleet-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_SECONDS):
            raise RuntimeError("the emulator thread did not start in time")
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join()
        self._emulator = None

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the endpoint's loop and wait for its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def reset(self) -> None:
        """See `Emulator.reset`; returns once the endpoint has been reset."""

        async def reset() -> None:
            self.emulator.reset()

        self.call(reset())

    def stop_listening(self) -> None:
        """See `Emulator.stop_listening`."""
        self.call(self.emulator.stop_listening())

    def start_listening(self) -> None:
        """See `Emulator.start_listening`."""
        self.call(self.emulator.start_listening())

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        from fleet.emulator._emulator import Emulator

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with Emulator(
                self.options, self._host, self._port, console=self._console
            ) as emulator:
                self._emulator = emulator
                self._ready.set()
                await self._stop.wait()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
