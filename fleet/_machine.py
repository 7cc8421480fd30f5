"""The Task state the fleet recommends for an activity, and the retriers its errors need.

A worker fails a task back with ``Fleet.Draining`` or ``Fleet.Interrupted`` when it stops,
and a task whose worker died comes back as a timeout; retrying those moves the task to
another worker. ``fleet demo`` and ``deploy`` build their state machines from here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fleet._errors import DRAINING, INTERRUPTED

#: The fleet's own errors: the task did not run to its end here, run it elsewhere.
DRAIN_ERRORS = (DRAINING, INTERRUPTED)
#: What a task whose worker died ends with, after HeartbeatSeconds or TimeoutSeconds.
TIMEOUT_ERRORS = ("States.Timeout", "States.HeartbeatTimeout")
#: Parameters that pass the entered time, retry count and execution in with the input, for
#: the schedule-to-start metric and the task's outcome line; the worker unwraps exactly these
#: keys for the handler.
CONTEXT_PARAMETERS = {
    "input.$": "$",
    "enteredTime.$": "$$.State.EnteredTime",
    "retryCount.$": "$$.State.RetryCount",
    "executionId.$": "$$.Execution.Id",
}


@dataclass(frozen=True)
class RetryPolicy:
    """How a recommended Task state retries; the defaults are the recommendation."""

    interval_seconds: int = 1
    max_attempts: int = 5
    backoff_rate: float = 2.0
    timeout_interval_seconds: int = 5
    timeout_max_attempts: int = 2
    errors: tuple[str, ...] = ()
    """Handler error names to retry as well (none by default)."""
    errors_max_attempts: int = 2

    def drain_retrier(self) -> dict[str, Any]:
        """The retrier of the fleet's own errors."""
        return {
            "ErrorEquals": list(DRAIN_ERRORS),
            "IntervalSeconds": self.interval_seconds,
            "MaxAttempts": self.max_attempts,
            "BackoffRate": self.backoff_rate,
        }

    def retriers(self) -> list[dict[str, Any]]:
        """The Task state's ``Retry``: the fleet's errors, timeouts, then chosen errors."""
        out = [self.drain_retrier()]
        if self.timeout_max_attempts:
            out.append(
                {
                    "ErrorEquals": list(TIMEOUT_ERRORS),
                    "IntervalSeconds": self.timeout_interval_seconds,
                    "MaxAttempts": self.timeout_max_attempts,
                    "BackoffRate": self.backoff_rate,
                }
            )
        if self.errors:
            out.append(
                {
                    "ErrorEquals": list(self.errors),
                    "IntervalSeconds": self.interval_seconds,
                    "MaxAttempts": self.errors_max_attempts,
                    "BackoffRate": self.backoff_rate,
                }
            )
        return out


def task_state(
    activity_arn: str,
    *,
    heartbeat_seconds: int,
    timeout_seconds: int,
    retry: RetryPolicy | None = None,
    pass_context: bool = True,
) -> dict[str, Any]:
    """The recommended Task state on ``activity_arn`` (add its ``Next`` or ``End``)."""
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": activity_arn,
        "HeartbeatSeconds": heartbeat_seconds,
        "TimeoutSeconds": timeout_seconds,
    }
    if pass_context:
        state["Parameters"] = dict(CONTEXT_PARAMETERS)
    state["Retry"] = (retry or RetryPolicy()).retriers()
    return state


def definition(
    activity_arn: str,
    *,
    heartbeat_seconds: int,
    timeout_seconds: int,
    state_name: str = "Work",
    comment: str | None = None,
) -> str:
    """A state machine of one recommended Task state, as Amazon States Language JSON."""
    machine: dict[str, Any] = {} if comment is None else {"Comment": comment}
    machine["StartAt"] = state_name
    state = task_state(
        activity_arn, heartbeat_seconds=heartbeat_seconds, timeout_seconds=timeout_seconds
    )
    machine["States"] = {state_name: {**state, "End": True}}
    return json.dumps(machine)
