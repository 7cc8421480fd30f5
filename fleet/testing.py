"""Test a handler without Step Functions: a fake task with recorded heartbeats and cancellation.

>>> import anyio
>>> from fleet.testing import TaskEnvironment
>>> async def hello(task):
...     task.heartbeat()
...     return {"greeting": f"Hello, {task.input['who']}"}
>>> env = TaskEnvironment(attempt=2)
>>> anyio.run(env.run, hello, {"who": "Ada"})
{'greeting': 'Hello, Ada'}
>>> len(env.heartbeats)
1

``run`` returns the output Step Functions would receive (decoded from its JSON) and raises
``TaskFailed`` with the error name and cause a worker would send, or ``TaskCancelled`` when
no result would be sent at all. The handler goes through the same wrapping, timeout and
encoding as in a worker, so typed handlers, ``Fleet.Timeout``, ``Fleet.InvalidOutput`` and
``Fleet.OutputTooLarge`` behave as in production. For a whole state machine with a real
worker, use the pytest fixtures of ``fleet.pytest_plugin``.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import anyio

from fleet import _errors, _reporting
from fleet._app import Activity
from fleet._localworker import ExecutionResult, LocalWorker
from fleet._task import Task, TaskContext
from fleet._typed import wrap

__all__ = ["ExecutionResult", "LocalWorker", "TaskCancelled", "TaskEnvironment", "TaskFailed"]

#: Heartbeat answers that tell a worker nobody wants the task's result any more.
GONE_CODES = ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken")


class TaskFailed(Exception):
    """The task would fail: ``error`` and ``cause`` are what SendTaskFailure would carry."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause


class TaskCancelled(Exception):
    """The task was cancelled and the worker would send no result; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TaskEnvironment:
    """A fake task runner, in the spirit of ``temporalio.testing.ActivityEnvironment``.

    ``attempt`` (1 for the first), ``entered_time`` and ``execution_id`` are what a handler
    sees when the state machine passes its context in. ``timeout_seconds`` is the handler's own
    timeout (default: the registered activity's, when ``run`` is given an ``Activity``).

    While ``run`` runs: ``heartbeats`` records the seconds (since the start) of every
    ``task.heartbeat()`` the handler made; ``on_heartbeat`` is called with the Task at each;
    setting ``heartbeat_error`` (e.g. ``"TaskTimedOut"``) makes the next heartbeat answer
    with it, which cancels the task as a worker would; ``cancel()`` cancels it at once, as
    when the execution is stopped.
    """

    def __init__(
        self,
        *,
        attempt: int = 1,
        entered_time: datetime | None = None,
        execution_id: str | None = None,
        activity: str = "TestActivity",
        timeout_seconds: float | None = None,
    ) -> None:
        if attempt < 1:
            raise ValueError(f"attempt counts from 1, got {attempt}")
        self.attempt = attempt
        self.entered_time = entered_time
        self.execution_id = execution_id
        self.activity = activity
        self.timeout_seconds = timeout_seconds
        self.heartbeats: list[float] = []
        self.heartbeat_error: str | None = None
        self.on_heartbeat: Callable[[Task], None] | None = None
        self._reason: str | None = None
        self._scope: anyio.CancelScope | None = None
        self._started = 0.0

    @property
    def cancelled(self) -> bool:
        """True once the running task has been cancelled."""
        return self._reason is not None

    def cancel(self, reason: str = "cancelled by the test") -> None:
        """Cancel the running task, as when its execution is stopped; no result is sent.

        Async handlers are cancelled; ``task.cancelled`` turns true for plain ones. Safe to
        call from the handler's own thread.
        """
        if self._reason is None:
            self._reason = reason
        scope = self._scope
        if scope is not None:
            if _in_worker_thread():  # a plain handler's heartbeat: cancel on the event loop
                anyio.from_thread.run_sync(scope.cancel)
            else:
                scope.cancel()

    def task(self, input: Any = None) -> Task:
        """A Task with this environment's context, for handlers called directly."""
        context = TaskContext(
            input=input,
            entered_time=self.entered_time,
            retry_count=self.attempt - 1,
            execution_id=self.execution_id,
        )
        made: list[Task] = []
        made.append(
            Task(
                activity=self.activity,
                activity_arn=f"arn:aws:states:us-east-1:123456789012:activity:{self.activity}",
                token_hash="test-token",
                context=context,
                request_heartbeat=lambda: self._heartbeat(made[0]),
                is_cancelled=lambda: self._reason is not None,
            )
        )
        return made[0]

    def _heartbeat(self, task: Task) -> None:
        # time.monotonic, not the loop's clock: plain handlers heartbeat from their thread.
        self.heartbeats.append(time.monotonic() - self._started if self._started else 0.0)
        if self.on_heartbeat is not None:
            self.on_heartbeat(task)
        if self.heartbeat_error is not None:
            if self.heartbeat_error not in GONE_CODES:
                raise ValueError(f"heartbeat_error must be one of {', '.join(GONE_CODES)}")
            self.cancel(f"a heartbeat answered {self.heartbeat_error}")

    async def run(self, handler: Callable[..., Any] | Activity, input: Any = None) -> Any:
        """Run ``handler`` (a function or a registered ``Activity``) on a fake task.

        Returns the output Step Functions would receive, decoded from JSON. Raises TaskFailed
        with the error and cause a worker would report, or TaskCancelled when it would report
        nothing (cancelled, or a heartbeat answered TaskTimedOut).
        """
        timeout = self.timeout_seconds
        if isinstance(handler, Activity):
            fn, is_async = handler.handler, handler.is_async
            timeout = timeout if timeout is not None else handler.timeout_seconds
            self.activity = handler.name
        else:
            fn = wrap(handler)
            is_async = _is_async(handler)
        task = self.task(input)
        # Each run starts afresh; what the last run recorded is replaced.
        self.heartbeats, self._reason = [], None
        self._started = time.monotonic()
        report: _reporting.Report | None = None
        deadline = anyio.current_time() + timeout if timeout is not None else float("inf")
        with anyio.CancelScope(deadline=deadline) as scope:
            self._scope = scope
            report = await self._call(fn, is_async, task)
        self._scope = None
        if self._reason is not None:
            raise TaskCancelled(self._reason)
        if report is None:
            raise TaskFailed(
                _errors.TIMEOUT, f"the handler ran longer than its timeout of {timeout:g} s"
            )
        if report.output is None:
            raise TaskFailed(report.error or "", report.cause or "")
        return json.loads(report.output)

    async def _call(
        self, fn: Callable[[Task], Any], is_async: bool, task: Task
    ) -> _reporting.Report:
        try:
            if is_async:
                value = await fn(task)
            else:
                value = await anyio.to_thread.run_sync(fn, task, abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            raise
        except BaseException as exc:  # as in a worker: any exception fails only the task
            return _reporting.from_exception(exc)
        return _reporting.from_result(value)


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn)


def _in_worker_thread() -> bool:
    try:
        anyio.get_current_task()
    except Exception:
        return True
    return False
