"""An execution's history as a timeline: per event its state and the durations it closes.

One reading of GetExecutionHistory serves ``fleet executions history``, the load test's
per-state times and the local console. Timestamps may be datetimes (botocore) or epoch
seconds (the wire).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: Kinds of duration an event can close.
IN_STATE, WAITED, RAN, TOTAL = "in state", "waited", "ran", "after"


@dataclass
class Row:
    """One event on the timeline."""

    id: int
    offset: float
    type: str
    state: str
    durations: dict[str, float] = field(default_factory=dict)
    worker: str | None = None
    error: str | None = None
    cause: str | None = None


def _seconds(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def details(event: dict[str, Any]) -> dict[str, Any]:
    """The ``*EventDetails`` member of an event ({} when it has none)."""
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def rows(events: list[dict[str, Any]]) -> list[Row]:
    """The events, oldest first, with the state each belongs to and the durations it closes.

    An event belongs to the state its ``previousEventId`` chain leads to, so branches that
    run side by side keep their own states. A StateExited closes the time in the state; a
    task's Started closes its wait since Scheduled; its Succeeded, Failed or TimedOut closes
    its run; the execution's end closes the whole.
    """
    if not events:
        return []
    first = _seconds(events[0]["timestamp"])
    state_of: dict[int, str] = {}
    opened: dict[tuple[str, str], float] = {}
    out: list[Row] = []
    for event in events:
        kind, at = event["type"], _seconds(event["timestamp"])
        info = details(event)
        if kind.endswith(("StateEntered", "StateExited")):
            state = str(info.get("name", ""))
        elif kind.startswith("Execution"):
            state = ""
        else:
            state = state_of.get(event.get("previousEventId", 0), "")
        state_of[event["id"]] = state
        row = Row(id=event["id"], offset=at - first, type=kind, state=state)
        if kind.endswith("StateEntered"):
            opened[("in", state)] = at
        elif kind.endswith("StateExited") and ("in", state) in opened:
            row.durations[IN_STATE] = at - opened.pop(("in", state))
        elif kind.endswith("Scheduled"):
            opened[("scheduled", state)] = at
        elif kind.endswith("Started") and ("scheduled", state) in opened:
            row.durations[WAITED] = at - opened.pop(("scheduled", state))
            opened[("run", state)] = at
        elif kind.endswith(("Succeeded", "Failed", "TimedOut")) and ("run", state) in opened:
            row.durations[RAN] = at - opened.pop(("run", state))
        if kind.startswith("Execution") and kind != "ExecutionStarted":
            row.durations[TOTAL] = at - first
        row.worker = info.get("workerName")
        row.error = info.get("error")
        row.cause = info.get("cause")
        out.append(row)
    return out


def visited(events: list[dict[str, Any]]) -> tuple[list[str], str | None, str | None]:
    """The states an execution entered, the state it is in, and the state it failed in.

    Entered states are in order, each once; the current one is None once the execution has
    left every state; the failed one is set only when the execution failed, timed out or
    was stopped.
    """
    entered: list[str] = []
    current: dict[str, int] = {}
    last_failure: str | None = None
    failed: str | None = None
    for row in rows(events):
        if row.type.endswith("StateEntered"):
            if row.state not in entered:
                entered.append(row.state)
            current[row.state] = current.get(row.state, 0) + 1
        elif row.type.endswith("StateExited"):
            current[row.state] = current.get(row.state, 1) - 1
        elif row.type in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
            open_now = [s for s, n in current.items() if n > 0]
            failed = open_now[-1] if open_now else last_failure
        elif row.type.endswith(("Failed", "TimedOut")) and row.state:
            last_failure = row.state
    running = [s for s, n in current.items() if n > 0]
    return entered, (running[-1] if running else None), failed
