"""One record per running task: it runs the handler, heartbeats, and reports the outcome.

The record holds the handler's cancel scope and *why* it was cancelled; that reason alone
decides what is reported: nothing when the task is gone, ``Fleet.Interrupted`` when the drain
budget ran out, ``Fleet.Timeout`` when the handler's own timeout passed. The handler runs in a
task of its own, so that one that ignores cancellation cannot hold its task's report back.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import anyio

from fleet import _errors, _reporting
from fleet._logging import TaskLog, get_logger, token_hash
from fleet._outcome import log_outcome
from fleet._reporting import Report, TaskOutcome
from fleet._slots import Slot
from fleet._task import Task, TaskContext, parse_input

if TYPE_CHECKING:
    from fleet._supervisor import ActivityRuntime, Supervisor

CancelReason = Literal["task_gone", "interrupted"]

_log = get_logger("task")


class RunningTask:
    """A task from the moment its poll returned until its outcome is reported."""

    def __init__(
        self, sup: Supervisor, runtime: ActivityRuntime, token: str, raw_input: str, slot: Slot
    ) -> None:
        self._sup = sup
        self.runtime = runtime
        self.token = token
        self.token_hash = token_hash(token)
        self.raw_input = raw_input
        self.slot = slot
        self.received_at = anyio.current_time()
        self.cancel_reason: CancelReason | None = None
        self.gone_code = ""
        self.context: TaskContext | None = None
        #: What the handler raised (other than TaskFailure), for the outcome line's traceback.
        self.raised: BaseException | None = None
        self._scope: anyio.CancelScope | None = None
        self._wake = anyio.Event()
        self._handler_done = anyio.Event()
        self._finished = False
        self.log = TaskLog(_log, {"activity": runtime.name, "token": self.token_hash})
        self.window_closes = 0.0  # the heartbeat window's end, when the handler returned

    def cancel(self, reason: CancelReason) -> None:
        """Stop the handler for ``reason``; the first reason given wins."""
        if self.cancel_reason is None:
            self.cancel_reason = reason
        if self._scope is not None:
            self._scope.cancel()
        self._wake.set()

    async def run(self) -> None:
        """Run the handler, report its outcome, then free the slot. Never raises.

        The outcome is reported as soon as it is known, even when a handler that was cancelled
        does not stop: the report must not wait for it. The slot stays taken until such a
        handler really ends.
        """
        outcome: TaskOutcome = "unreported"
        report: Report | None = None
        try:
            report = await self._execute()
            if report is None:
                outcome = "cancelled"
            else:
                with anyio.CancelScope(shield=True):
                    outcome = await _reporting.send(
                        self._sup.api,
                        self.token,
                        report,
                        deadline=self._sup.report_deadline(self.window_closes),
                        log=self.log,
                    )
            self._finish(outcome, report)
            await self._handler_done.wait()
        except Exception:
            self.log.exception("task runner failed; the task is left to its heartbeat timeout")
        finally:
            self._finish(outcome, report)
            self.slot.release()

    def _finish(self, outcome: TaskOutcome, report: Report | None) -> None:
        if self._finished:
            return
        self._finished = True
        seconds = anyio.current_time() - self.received_at
        log_outcome(
            self.log, outcome=outcome, report=report, seconds=seconds, context=self.context,
            exc=self.raised,
        )  # fmt: skip
        self._sup.task_finished(self, outcome, seconds, report)

    async def _execute(self) -> Report | None:
        try:
            self.context = context = parse_input(self.raw_input)
        except ValueError as exc:
            self._handler_done.set()  # no handler runs
            return _reporting.failure(_errors.INVALID_INPUT, f"task input is not JSON: {exc}")
        if context.entered_time is not None:
            waited = (datetime.now(UTC) - context.entered_time).total_seconds()
            self._sup.metrics.schedule_to_start.labels(activity=self.runtime.name).observe(
                max(0.0, waited)
            )
        beat = self._sup.heartbeats.add(
            activity=self.runtime.name, token=self.token,
            heartbeat_seconds=self.runtime.heartbeat_seconds, on_gone=self._gone, log=self.log,
        )  # fmt: skip
        task = Task(
            activity=self.runtime.name, activity_arn=self.runtime.arn, token_hash=self.token_hash,
            context=context, request_heartbeat=beat.request,
            is_cancelled=lambda: self.cancel_reason is not None or self._sup.failing_back,
            state=self._sup.state,
        )  # fmt: skip
        timeout = self.runtime.activity.timeout_seconds
        deadline = anyio.current_time() + timeout if timeout is not None else math.inf
        results: list[Report] = []
        done = self._handler_done

        async def call() -> None:
            try:
                # One scope serves both ends: its deadline is the handler's own timeout, and
                # cancel() stops it for a reason recorded first.
                with anyio.CancelScope(deadline=deadline) as scope:
                    self._scope = scope
                    if self.cancel_reason is not None:
                        scope.cancel()
                    results.append(await self._call_handler(task))
            finally:
                self._scope = None
                done.set()
                self._wake.set()

        try:
            # The handler runs in a task of its own, in the supervisor's group of tasks, so
            # that one that ignores cancellation cannot hold this task's report back.
            self._sup.start_handler(call)
            await self._wait_for_handler(done, deadline)
        finally:
            await beat.stop()
            self.window_closes = beat.deadline
        if not done.is_set():
            self._sup.handler_abandoned(self, done)
        if self.cancel_reason == "task_gone":
            return None
        if self.cancel_reason == "interrupted":
            ran = anyio.current_time() - self.received_at
            cause = {
                "worker": self._sup.settings.worker_name,
                "ranSeconds": round(ran, 3),
                "reason": "the worker was stopped before the task finished",
            }
            return _reporting.failure(_errors.INTERRUPTED, json.dumps(cause), outcome="interrupted")
        if not results:  # the scope's deadline passed: the handler's own timeout
            return _reporting.failure(
                _errors.TIMEOUT, f"the handler ran longer than its timeout of {timeout:g} s"
            )
        return results[0]

    async def _wait_for_handler(self, done: anyio.Event, deadline: float) -> None:
        """Wait until the handler returns, or until it was cancelled and had a moment to stop."""
        grace = self._sup.handler_grace_seconds()
        with anyio.move_on_at(deadline + grace):  # a handler that ignores its own timeout
            await self._wake.wait()
            if not done.is_set():
                with anyio.move_on_after(grace):
                    await done.wait()

    async def _call_handler(self, task: Task) -> Report:
        activity = self.runtime.activity
        try:
            if activity.is_async:
                value = await activity.handler(task)
            else:
                value = await self._sup.threads.run(activity.handler, task)
        except anyio.get_cancelled_exc_class():
            raise
        except BaseException as exc:  # even SystemExit in a handler fails only its task
            if not isinstance(exc, _errors.TaskFailure):
                self.raised = exc
            return _reporting.from_exception(exc)
        return _reporting.from_result(value)

    def _gone(self, code: str) -> None:
        self.gone_code = code
        self.cancel("task_gone")
