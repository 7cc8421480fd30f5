"""Counters of what the endpoint did, for tests, benchmarks and `GET /_emulator/stats`."""

from __future__ import annotations

from collections import Counter
from typing import Any


class EmulatorStats:
    """Running totals since the endpoint was created; plain attributes, cheap to bump."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        """API calls received, by operation (admin calls not included)."""
        self.errors: Counter[str] = Counter()
        """Error answers, by error code (injected faults and throttles included)."""
        self.throttled: Counter[str] = Counter()
        """Calls refused with ThrottlingException, by operation."""
        self.faults_injected: Counter[str] = Counter()
        """Injected faults, by kind ("500", "503", "drop")."""
        self.tasks_handed_out = 0
        """Activity tasks returned by GetActivityTask (ActivityStarted events)."""
        self.tasks_handed_to_closed_polls = 0
        """Tasks given to a poll whose client had already gone away (lost-poll mode only)."""
        self.polls_abandoned = 0
        """Polls whose client went away before an answer."""
        self.executions_started = 0
        self.connections_opened = 0

    def reset(self) -> None:
        """Back to zero, in place, so every holder of this object sees the new counts."""
        vars(self).update(vars(EmulatorStats()))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot."""
        return {
            "requests": dict(self.requests),
            "requests_total": sum(self.requests.values()),
            "errors": dict(self.errors),
            "throttled": dict(self.throttled),
            "faults_injected": dict(self.faults_injected),
            "tasks_handed_out": self.tasks_handed_out,
            "tasks_handed_to_closed_polls": self.tasks_handed_to_closed_polls,
            "polls_abandoned": self.polls_abandoned,
            "executions_started": self.executions_started,
            "connections_opened": self.connections_opened,
        }
