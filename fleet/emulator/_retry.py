"""Retry and Catch of a Task state: error matching, backoff with jitter, catcher choice."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fleet.emulator._jsonpath import Path

if TYPE_CHECKING:
    from fleet.emulator._dataflow import Template
    from fleet.emulator._jsonata import JsonataTemplate

ALL = "States.ALL"
TASK_FAILED = "States.TaskFailed"
TIMEOUT = "States.Timeout"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
RUNTIME = "States.Runtime"
DATA_LIMIT = "States.DataLimitExceeded"
# Terminal errors that States.ALL and States.TaskFailed do not match; only States.Runtime is
# beyond every retrier and catcher, the data limit may still be named explicitly.
_TERMINAL = frozenset({RUNTIME, DATA_LIMIT})


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a task ended badly: the error name, its cause, and whether a heartbeat was missed."""

    error: str | None
    cause: str | None = None
    heartbeat: bool = False

    def matches(self, names: tuple[str, ...]) -> bool:
        """Whether an `ErrorEquals` list covers this failure, by the States Language rules."""
        error = self.error
        if error == RUNTIME:
            return False
        if error in _TERMINAL:
            return error in names
        for name in names:
            if name in (ALL, error):
                return True
            if name == TASK_FAILED and error != TIMEOUT:
                return True
            if name == HEARTBEAT_TIMEOUT and self.heartbeat:
                return True
        return False

    def as_output(self) -> dict[str, str]:
        """The `{"Error", "Cause"}` object a catcher's ResultPath receives."""
        out = {}
        if self.error is not None:
            out["Error"] = self.error
        if self.cause is not None:
            out["Cause"] = self.cause
        return out


@dataclass(frozen=True, slots=True)
class Retrier:
    """One entry of `Retry`, with the States Language defaults."""

    errors: tuple[str, ...]
    interval_seconds: int = 1
    max_attempts: int = 3
    backoff_rate: float = 2.0
    max_delay_seconds: int | None = None
    full_jitter: bool = False

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Service seconds to wait before retry number `attempt` (0 for the first retry)."""
        delay = self.interval_seconds * self.backoff_rate**attempt
        if self.max_delay_seconds is not None:
            delay = min(delay, self.max_delay_seconds)
        if self.full_jitter:
            delay = rng.uniform(0, delay)
        return float(delay)


@dataclass(frozen=True, slots=True)
class Catcher:
    """One entry of `Catch`."""

    errors: tuple[str, ...]
    next: str
    result_path: Path | None
    assign: Template | JsonataTemplate | None = None
    output: JsonataTemplate | None = None
    """A JSONata catcher's Output (JSONPath catchers use `result_path`)."""


def pick_retrier(retriers: tuple[Retrier, ...], failure: Failure) -> int | None:
    """Index of the first retrier whose ErrorEquals covers `failure`, if any."""
    for index, retrier in enumerate(retriers):
        if failure.matches(retrier.errors):
            return index
    return None


def pick_catcher(catchers: tuple[Catcher, ...], failure: Failure) -> Catcher | None:
    """The first catcher whose ErrorEquals covers `failure`, if any."""
    for catcher in catchers:
        if failure.matches(catcher.errors):
            return catcher
    return None
