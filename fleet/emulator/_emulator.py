"""The endpoint's public face: start, stop, pause listening, and a thread-backed variant."""

from __future__ import annotations

import asyncio
import dataclasses
from types import TracebackType
from typing import TYPE_CHECKING, Any

from fleet.emulator import _admin, _console
from fleet.emulator._api import Api
from fleet.emulator._http import HttpConnection, HttpServer
from fleet.emulator._options import EmulatorOptions
from fleet.emulator._runtime import Runtime
from fleet.emulator._stats import EmulatorStats

if TYPE_CHECKING:
    from fleet.emulator._thread import ThreadedEmulator


class Emulator:
    """A local Step Functions endpoint serving in the current event loop.

    Use as `async with Emulator(options, port=0) as emu:`; `emu.endpoint_url` is then ready for
    any AWS client. Leaving the block stops listening, resets every connection and cancels every
    service timer; nothing is left running.
    """

    def __init__(
        self,
        options: EmulatorOptions | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        console: bool = False,
    ) -> None:
        self.options = options if options is not None else EmulatorOptions()
        self._initial_options = dataclasses.replace(self.options)
        self.stats = EmulatorStats()
        self.host = host
        self.port = port
        self._runtime = Runtime(self.options, self.stats)
        self._api = Api(self._runtime)
        self._http = HttpServer(self._api, self._admin, self.stats)
        if console:  # the local console's web pages, off unless asked for
            self._http.pages = lambda conn, method, path: _console.handle(
                self._runtime, conn, method, path
            )
        self._listening = False
        self._outage: asyncio.Task[None] | None = None

    @property
    def endpoint_url(self) -> str:
        """`http://<host>:<port>` of the listening socket."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def console_url(self) -> str:
        """The local console's address (served only when the endpoint was made with it)."""
        return f"{self.endpoint_url}/console"

    async def __aenter__(self) -> Emulator:
        await self.start_listening()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start_listening(self) -> None:
        """Listen (again) on the same port; the first call binds a free port when port is 0."""
        if not self._listening:
            self.port = await self._http.listen(self.host, self.port)
            self._listening = True

    async def stop_listening(self) -> None:
        """Close the listening socket and every open connection; all state is kept."""
        self._listening = False
        await self._http.close()

    async def close(self) -> None:
        """Stop listening and cancel all service timers. Safe to call twice."""
        if self._outage is not None:
            self._outage.cancel()
            self._outage = None
        await self.stop_listening()
        self._runtime.close()

    def reset(self) -> None:
        """Make the endpoint as it was when created, without closing it.

        Every activity, state machine, execution, task token, counter and throttling bucket is
        forgotten; the options go back to those it was created with; long polls being held are
        answered with no task. Connections and the listening socket are left as they are, so
        clients keep working against the empty endpoint.
        """
        self._runtime.reset()
        self._api.reset()
        self.stats.reset()
        self.options.update(self._initial_options.as_dict())

    def begin_outage(self, seconds: float) -> None:
        """Refuse connections for `seconds` (every open one is reset), then listen again."""
        if self._outage is not None:
            self._outage.cancel()
        self._outage = asyncio.get_running_loop().create_task(self._run_outage(seconds))

    async def _run_outage(self, seconds: float) -> None:
        # Let the admin answer leave before every connection is reset.
        await asyncio.sleep(0)
        await self.stop_listening()
        await asyncio.sleep(seconds)
        await self.start_listening()
        self._outage = None

    def snapshot(self) -> dict[str, Any]:
        """Counters plus live gauges, as `GET /_emulator/stats` returns them."""
        store = self._runtime.store
        out = self.stats.as_dict()
        out["open_executions"] = len(self._runtime.running)
        out["polls_waiting"] = sum(len(q.polls) for q in store.queues.values())
        out["tasks_waiting"] = sum(len(q.pending) for q in store.queues.values())
        out["tasks_open"] = len(self._runtime.tokens.open)
        out["connections"] = len(self._http.connections)
        out["listening"] = self._listening
        return out

    def _admin(self, conn: HttpConnection, method: bytes, path: str, body: bytes) -> None:
        _admin.handle(self, conn, method, path, body)

    @staticmethod
    def in_thread(
        options: EmulatorOptions | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        console: bool = False,
    ) -> ThreadedEmulator:
        """An endpoint with its own event loop in a daemon thread, for synchronous code."""
        from fleet.emulator._thread import ThreadedEmulator

        return ThreadedEmulator(options, host, port, console=console)
