"""A bounded pool of daemon threads for plain ``def`` handlers.

Daemon threads, unlike anyio's or concurrent.futures' workers, never keep the process alive:
a handler stuck in a blocking call must not stop a drained worker from exiting before
ECS's SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[], Any]]


class ThreadPool:
    """Runs blocking callables on at most ``size`` daemon threads, started on demand."""

    def __init__(self, size: int, name: str = "fleet-handler") -> None:
        self._size = size
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0  # threads waiting for a job
        self._waiting = 0  # jobs queued and not yet taken
        self._running = 0  # calls running now, including abandoned ones
        self._lock = threading.Lock()

    @property
    def busy(self) -> int:
        """Calls running now, including those whose caller was cancelled and left them."""
        with self._lock:
            return self._running

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on a pool thread and return its result.

        Cancelling the caller abandons the call: the thread finishes it in the background and
        its result is dropped.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        context = contextvars.copy_context()
        self._jobs.put((loop, future, lambda: context.run(fn, *args)))
        self._grow()
        return await future

    def _grow(self) -> None:
        with self._lock:
            self._waiting += 1
            if self._waiting <= self._idle or len(self._threads) >= self._size:
                return
            thread = threading.Thread(
                target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            self._idle += 1
        thread.start()

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            with self._lock:
                self._idle -= 1
                self._waiting -= 1
            if job is None:
                return
            loop, future, call = job
            with self._lock:
                self._running += 1
            result: Any = None
            error: BaseException | None = None
            try:
                result = call()
            except BaseException as exc:  # handed to the awaiting task, not lost
                error = exc
            finally:
                # The call has ended: say so before its caller can see the result, or an exit
                # that follows at once counts it as a handler still running.
                with self._lock:
                    self._running -= 1
            _settle(loop, future, result, error)
            with self._lock:
                self._idle += 1

    def close(self) -> None:
        """Let idle threads exit; busy ones finish their call first (they never block exit)."""
        for _ in self._threads:
            with self._lock:
                self._waiting += 1
            self._jobs.put(None)


def _settle(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any,
    exc: BaseException | None,
) -> None:
    def apply() -> None:
        if future.cancelled():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)

    # A closed loop means nobody waits for this result any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(apply)
