"""One record per running task: it runs the handler, heartbeats, and reports the outcome.

The record holds the handler's cancel scope and *why* it was cancelled; that reason alone
decides what is reported: nothing when the task is gone, ``Fleet.Interrupted`` when the drain
budget ran out, ``Fleet.Timeout`` when the handler's own timeout passed.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import anyio

from fleet import _errors, _reporting
from fleet._logging import get_logger, token_hash
from fleet._reporting import Report, TaskOutcome
from fleet._slots import Slot
from fleet._task import Task, parse_input

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
        self._scope: anyio.CancelScope | None = None
        self.window_closes = 0.0  # the heartbeat window's end, when the handler returned
        self.log = logging.LoggerAdapter(_log, {"activity": runtime.name, "token": self.token_hash})

    def cancel(self, reason: CancelReason) -> None:
        """Stop the handler for ``reason``; the first reason given wins."""
        if self.cancel_reason is None:
            self.cancel_reason = reason
        if self._scope is not None:
            self._scope.cancel()

    async def run(self) -> None:
        """Run the handler, report its outcome, then free the slot. Never raises."""
        outcome: TaskOutcome = "unreported"
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
        except Exception:
            self.log.exception("task runner failed; the task is left to its heartbeat timeout")
        finally:
            self.slot.release()
            self._sup.task_finished(self, outcome, anyio.current_time() - self.received_at)

    async def _execute(self) -> Report | None:
        try:
            context = parse_input(self.raw_input)
        except ValueError as exc:
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
        )  # fmt: skip
        timeout = self.runtime.activity.timeout_seconds
        report: Report | None = None
        try:
            # One scope serves both ends: its deadline is the handler's own timeout, and
            # cancel() stops it for a reason recorded first.
            with anyio.CancelScope(
                deadline=anyio.current_time() + timeout if timeout is not None else float("inf")
            ) as scope:
                self._scope = scope
                if self.cancel_reason is not None:
                    scope.cancel()
                report = await self._call_handler(task)
            self._scope = None
        finally:
            await beat.stop()
            self.window_closes = beat.deadline
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
        if report is None:  # the scope's deadline passed: the handler's own timeout
            return _reporting.failure(
                _errors.TIMEOUT, f"the handler ran longer than its timeout of {timeout:g} s"
            )
        return report

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
            return _reporting.from_exception(exc)
        return _reporting.from_result(value)

    def _gone(self, code: str) -> None:
        self.gone_code = code
        self.cancel("task_gone")
