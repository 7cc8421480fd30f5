"""Execution history: events stored compactly, rendered in the GetExecutionHistory shape."""

from __future__ import annotations

import functools
import json
import time
from typing import Any

DETAILS = {"truncated": False}
"""The `inputDetails`/`outputDetails` of every payload (never truncated in this endpoint)."""


def dumps(value: Any) -> str:
    """Compact JSON, as AWS writes payloads."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# Members of event details that carry execution data, dropped for includeExecutionData=false.
_DATA = (
    "input",
    "output",
    "inputDetails",
    "outputDetails",
    "assignedVariables",
    "assignedVariablesDetails",
)


@functools.cache
def details_key(event_type: str) -> str:
    """The `*EventDetails` member that holds an event type's details."""
    if event_type.endswith("StateEntered"):
        return "stateEnteredEventDetails"
    if event_type.endswith("StateExited"):
        return "stateExitedEventDetails"
    return event_type[0].lower() + event_type[1:] + "EventDetails"


class History:
    """The ordered events of one execution; ids count from 1."""

    __slots__ = ("events",)

    def __init__(self) -> None:
        self.events: list[tuple[str, float, int, dict[str, Any] | None]] = []

    def __len__(self) -> int:
        return len(self.events)

    def add(
        self, event_type: str, details: dict[str, Any] | None, previous: int | None = None
    ) -> int:
        """Append an event and return its id; `previous` defaults to the last event's id."""
        event_id = len(self.events) + 1
        self.events.append(
            (event_type, time.time(), event_id - 1 if previous is None else previous, details)
        )
        return event_id

    def render(self, index: int, include_data: bool) -> dict[str, Any]:
        """The wire shape of the event at `index` (0-based)."""
        event_type, timestamp, previous, details = self.events[index]
        out: dict[str, Any] = {
            "timestamp": timestamp,
            "type": event_type,
            "id": index + 1,
            "previousEventId": previous,
        }
        if details is not None:
            if not include_data:
                details = {k: v for k, v in details.items() if k not in _DATA}
            out[details_key(event_type)] = details
        return out
