"""The one log line written when a task ends, whatever way it ends.

An operator reading the logs sees every task once: INFO when it succeeded, WARNING when it
ended the way a worker expects tasks to end sometimes (a ``TaskFailure`` the handler chose, its
own timeout, a fail-back during a drain, a task closed by Step Functions), ERROR with the
traceback when the handler raised something else, or when the result could not be encoded or
reported.
"""

from __future__ import annotations

import logging
from typing import Any

from fleet import _errors
from fleet._limits import cut
from fleet._reporting import Report, TaskOutcome
from fleet._task import TaskContext

#: Error names that mean a bug in the handler or the result it returned, not a chosen failure.
_BUG_ERRORS = frozenset({_errors.INVALID_OUTPUT, _errors.OUTPUT_TOO_LARGE, _errors.INVALID_INPUT})
#: Longest ``cause`` copied into the line; the whole cause is in the execution's history.
_CAUSE_CHARS = 1_000


def execution_name(execution_id: str | None) -> str | None:
    """The execution's name: the last part of its ARN (``$$.Execution.Id``)."""
    if not execution_id:
        return None
    return execution_id.rsplit(":", 1)[-1]


def level_for(outcome: TaskOutcome, report: Report | None, raised: bool) -> int:
    """The level of a task's outcome line."""
    if outcome == "succeeded":
        return logging.INFO
    if outcome == "unreported" or raised:
        return logging.ERROR
    if report is not None and report.error in _BUG_ERRORS:
        return logging.ERROR
    return logging.WARNING


def log_outcome(
    log: logging.LoggerAdapter[Any],
    *,
    outcome: TaskOutcome,
    report: Report | None,
    seconds: float,
    context: TaskContext | None,
    exc: BaseException | None = None,
) -> None:
    """Log the line that says how a task ended.

    ``exc`` is the exception the handler raised (other than ``TaskFailure``): the line then
    carries its traceback.
    """
    error = report.error if report is not None and report.output is None else None
    fields: dict[str, Any] = {
        "outcome": outcome,
        "error": error,
        "duration_seconds": round(seconds, 3),
        "attempt": None if context is None or context.retry_count is None
        else context.retry_count + 1,
        "execution": execution_name(context.execution_id if context else None),
        "execution_arn": context.execution_id if context else None,
    }  # fmt: skip
    if error is not None and exc is None and report is not None and report.cause:
        fields["cause"] = cut(report.cause, _CAUSE_CHARS)
    message = f"task {outcome}" if error is None else f"task {outcome}: {error}"
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    log.log(level_for(outcome, report, exc is not None), message, extra=fields, exc_info=exc_info)
