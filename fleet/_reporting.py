"""Turning a handler's outcome into SendTaskSuccess/SendTaskFailure, within AWS's limits."""

from __future__ import annotations

import json
import logging
import traceback
from dataclasses import dataclass
from typing import Any, Literal

from fleet import _errors
from fleet._api import Api, ApiError
from fleet._limits import MAX_CAUSE_CHARS, MAX_ERROR_CHARS, MAX_OUTPUT_BYTES, cut, cut_cause

#: How a task ended, as the ``outcome`` label of ``fleet_tasks_completed_total``.
TaskOutcome = Literal["succeeded", "failed", "cancelled", "drained", "interrupted", "unreported"]


@dataclass(frozen=True)
class Report:
    """What to send for a task: an output (success) or an error and cause (failure)."""

    outcome: TaskOutcome
    output: str | None = None
    error: str | None = None
    cause: str | None = None

    @property
    def operation(self) -> str:
        """The API operation that carries this report."""
        return "SendTaskSuccess" if self.output is not None else "SendTaskFailure"


def failure(error: str, cause: str = "", outcome: TaskOutcome = "failed") -> Report:
    """A failure report with ``error`` and ``cause`` cut to Step Functions' limits."""
    return Report(
        outcome=outcome,
        error=cut(_text(error), MAX_ERROR_CHARS),
        cause=cut(_text(cause), MAX_CAUSE_CHARS),
    )


def _text(value: object) -> str:
    """``str(value)``, or a description when even that fails (a ``__str__`` that raises)."""
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except Exception as exc:
        return f"<{type(value).__name__}: str() raised {type(exc).__name__}>"


def from_result(value: Any) -> Report:
    """The report for a handler's return value: its JSON, or why it cannot be sent. Never raises.

    Anything that stops the encoding (a type JSON has no form for, nesting deeper than the
    encoder goes, a mapping whose ``items()`` raises) makes a ``Fleet.InvalidOutput`` failure,
    so that the task is always reported.
    """
    try:
        output = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except Exception as exc:
        return failure(
            _errors.INVALID_OUTPUT,
            f"the handler returned a value that cannot be encoded as JSON "
            f"({type(value).__name__}): {type(exc).__name__}: {_text(exc)}",
        )
    try:
        size = len(output.encode())
    except UnicodeEncodeError as exc:
        return failure(
            _errors.INVALID_OUTPUT,
            f"the handler returned text that is not valid Unicode ({exc.reason}); "
            "decode bytes fully before returning them",
        )
    if size > MAX_OUTPUT_BYTES:
        return failure(
            _errors.OUTPUT_TOO_LARGE,
            f"the encoded result is {size:,} bytes; Step Functions accepts at most "
            f"{MAX_OUTPUT_BYTES:,}. Store large results elsewhere (e.g. S3), return a reference.",
        )
    return Report(outcome="succeeded", output=output)


def from_exception(exc: BaseException) -> Report:
    """The report for a handler that raised: its error name, message and traceback. Never raises.

    A message that cannot be had (``__str__`` raises) is described instead.
    """
    try:
        return _from_exception(exc)
    except Exception as broken:
        return failure(
            cut(type(exc).__name__, MAX_ERROR_CHARS),
            f"{type(exc).__name__}: the exception could not be described "
            f"({type(broken).__name__}: {_text(broken)})",
        )


def _from_exception(exc: BaseException) -> Report:
    if isinstance(exc, _errors.TaskFailure):
        return failure(exc.error, exc.cause)
    # Frames only: the message leads the cause already, and a huge message repeated at the
    # end would push the failing line out when the cause is cut.
    detail = "Traceback (most recent call last):\n" + "".join(
        traceback.format_tb(exc.__traceback__)
    )
    chained = exc.__cause__ or exc.__context__
    if chained is not None:
        detail += f"(while handling {type(chained).__name__}: {cut(_text(chained), 500)})\n"
    message = f"{type(exc).__name__}: {_text(exc)}"
    return Report(
        outcome="failed",
        error=cut(type(exc).__name__, MAX_ERROR_CHARS),
        cause=cut_cause(message, detail, MAX_CAUSE_CHARS),
    )


async def send(
    api: Api, token: str, report: Report, *, deadline: float, log: logging.LoggerAdapter[Any]
) -> TaskOutcome:
    """Send ``report`` for the task, retrying within ``deadline``; return the final outcome.

    The outcome is the report's own when the service took it, ``cancelled`` when the task was
    already gone (so the result was not wanted) and ``unreported`` when it could not be sent.
    """
    params: dict[str, Any] = {"taskToken": token}
    if report.output is not None:
        params["output"] = report.output
    else:
        params["error"] = report.error or ""
        params["cause"] = report.cause or ""
    try:
        await api.call_with_retries(report.operation, deadline=deadline, **params)
    except ApiError as exc:
        if exc.task_gone and exc.earlier_maybe_applied:
            # An earlier attempt may have got through before its answer was lost. (One that
            # was refused, or never connected, did not: then the task closed without it.)
            log.info(
                "result probably delivered before a retry found the task closed",
                extra={"outcome": report.outcome, "code": exc.code},
            )
            return report.outcome
        if exc.task_gone:
            log.info(
                "task closed before its result arrived; result dropped",
                extra={"outcome": report.outcome, "code": exc.code},
            )
            return "cancelled"
        log.error(
            "could not report the task's result",
            extra={
                "outcome": report.outcome,
                "operation": report.operation,
                "code": exc.code,
                "error": exc.message,
                "attempts": exc.attempts,
            },
        )
        return "unreported"
    return report.outcome
