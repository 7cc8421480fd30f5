"""What a handler receives: the task's input, its context, and heartbeat/cancel hooks."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fleet._logging import TaskLog, get_logger

#: Keys of the wrapper a state machine builds with ``Parameters`` to pass its context in:
#: ``{"input.$": "$", "enteredTime.$": "$$.State.EnteredTime",
#: "retryCount.$": "$$.State.RetryCount", "executionId.$": "$$.Execution.Id"}``.
CONTEXT_KEYS = frozenset({"input", "enteredTime", "retryCount", "executionId"})


@dataclass(frozen=True)
class TaskContext:
    """What the state machine told us about the task, when it passed its context in."""

    input: Any
    entered_time: datetime | None = None
    retry_count: int | None = None
    execution_id: str | None = None


def parse_input(raw: str) -> TaskContext:
    """Parse a task's input, unwrapping the context wrapper when the input is one.

    Raises ValueError when the input is not JSON.
    """
    value = json.loads(raw)
    if not (isinstance(value, dict) and "input" in value and len(value) > 1):
        return TaskContext(input=value)
    if not set(value) <= CONTEXT_KEYS:
        return TaskContext(input=value)
    entered = value.get("enteredTime")
    retry = value.get("retryCount")
    execution = value.get("executionId")
    return TaskContext(
        input=value["input"],
        entered_time=_parse_time(entered) if isinstance(entered, str) else None,
        retry_count=retry if isinstance(retry, int) and not isinstance(retry, bool) else None,
        execution_id=execution if isinstance(execution, str) else None,
    )


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


class Task:
    """One activity task, as the handler sees it.

    ``input`` is the parsed JSON input. ``heartbeat()`` asks for a heartbeat soon (cheap and
    coalesced; heartbeats also run automatically). ``cancelled`` turns true when nobody wants
    the result any more (the execution stopped or timed out) or the worker is being stopped;
    async handlers are cancelled for you, plain ``def`` handlers should check it in long loops.
    """

    def __init__(
        self,
        *,
        activity: str,
        activity_arn: str,
        token_hash: str,
        context: TaskContext,
        request_heartbeat: Callable[[], None],
        is_cancelled: Callable[[], bool],
        state: Any = None,
    ) -> None:
        self.activity = activity
        self.activity_arn = activity_arn
        self.token_hash = token_hash
        self.input: Any = context.input
        self.entered_time: datetime | None = context.entered_time
        #: The execution's ARN, when the state machine passes ``$$.Execution.Id`` in.
        self.execution_id: str | None = context.execution_id
        self.retry_count: int | None = context.retry_count
        #: What the app's lifespan yielded (shared clients, pools); None without a lifespan.
        self.state: Any = state
        self._request_heartbeat = request_heartbeat
        self._is_cancelled = is_cancelled
        self.log: logging.LoggerAdapter[logging.Logger] = TaskLog(
            get_logger("task"), {"activity": activity, "token": token_hash}
        )

    @property
    def attempt(self) -> int | None:
        """1 for the first attempt, 2 for the first retry, ...; None when not passed in."""
        return None if self.retry_count is None else self.retry_count + 1

    @property
    def cancelled(self) -> bool:
        """True once the task should stop: its result is no longer wanted or will be refused."""
        return self._is_cancelled()

    def heartbeat(self) -> None:
        """Ask for a heartbeat soon; safe from any thread and cheap to call often."""
        self._request_heartbeat()

    def __repr__(self) -> str:
        return f"Task(activity={self.activity!r}, token={self.token_hash})"
