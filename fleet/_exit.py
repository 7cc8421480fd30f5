"""Leaving the process within the drain budget, whatever still runs.

ECS kills a task ``stopTimeout`` after SIGTERM, and the drain budget is set below it. Two things
could keep the process past the budget: a handler that ignores cancellation (its task has been
reported, but its coroutine or thread still runs), and the interpreter's own teardown after the
worker has stopped (joining threads, collecting modules). A watchdog thread, armed when the
drain begins, ends the process when the budget is spent; it runs whether or not the event loop
does. And once ``fleet run`` has its exit status, ``exit_now`` leaves without the teardown.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable

from fleet._logging import get_logger

_log = get_logger("worker")

#: Exit status when the budget ran out before the worker could stop by itself.
ABANDONED_STATUS = 1


def exit_now(status: int) -> None:
    """Flush what was written and end the process with ``status``, skipping teardown."""
    for handler in logging.getLogger().handlers + get_logger().handlers:
        handler.flush()
    for stream in (sys.stdout, sys.stderr):
        # A closed or broken stream can take nothing more anyway.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


class ExitWatchdog:
    """Ends the process at the end of the drain budget if it is still running then."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stuck: Callable[[], int] = lambda: 0
        #: The worker's own exit status once it stopped; used if teardown outlasts the budget.
        self.status: int | None = None

    def arm(self, seconds_left: float, stuck: Callable[[], int]) -> None:
        """Start the countdown (once; later calls do nothing).

        ``stuck`` counts the handlers still running, for the line that says why it exits.
        """
        with self._lock:
            if self._thread is not None:
                return
            self._stuck = stuck
            deadline = time.monotonic() + max(0.0, seconds_left)
            self._thread = threading.Thread(
                target=self._watch, args=(deadline,), name="fleet-exit-watchdog", daemon=True
            )
        self._thread.start()

    def _watch(self, deadline: float) -> None:
        while (remaining := deadline - time.monotonic()) > 0:
            time.sleep(remaining)
        if self.status is not None:
            exit_now(self.status)
        _log.error(
            "drain budget spent: exiting now, abandoning handlers that did not stop",
            extra={"handlers": self._stuck(), "exit_status": ABANDONED_STATUS},
        )
        exit_now(ABANDONED_STATUS)
