"""Activities, state machines and executions held by the endpoint, indexed by ARN."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fleet.emulator._activities import ActivityQueue

if TYPE_CHECKING:
    from fleet.emulator._asl import Definition
    from fleet.emulator._interpreter import Execution

_order = itertools.count()
DEFAULT_LOGGING = {"level": "OFF", "includeExecutionData": False}
DEFAULT_TRACING = {"enabled": False}


@dataclass(slots=True)
class Activity:
    """A registered activity."""

    arn: str
    name: str
    created: float
    seq: int = field(default_factory=lambda: next(_order))
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class StateMachine:
    """A state machine; executions keep the definition they started with."""

    arn: str
    name: str
    definition_text: str
    definition: Definition
    role_arn: str
    created: float
    updated: float | None = None
    status: str = "ACTIVE"
    executions: list[Execution] = field(default_factory=list)
    running: int = 0
    seq: int = field(default_factory=lambda: next(_order))
    tags: dict[str, str] = field(default_factory=dict)
    logging: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_LOGGING))
    tracing: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_TRACING))


class Store:
    """Everything the endpoint knows, across regions (ARNs carry the region)."""

    def __init__(self) -> None:
        self.activities: dict[str, Activity] = {}
        self.machines: dict[str, StateMachine] = {}
        self.executions: dict[str, Execution] = {}
        self.queues: dict[str, ActivityQueue] = {}
        """Activity queues by ARN; they outlive a deleted activity so a re-created one resumes."""

    def queue(self, activity_arn: str) -> ActivityQueue:
        """The queue of an activity ARN, created on first use."""
        queue = self.queues.get(activity_arn)
        if queue is None:
            queue = self.queues[activity_arn] = ActivityQueue()
        return queue

    def execution_closed(self, machine: StateMachine) -> None:
        """Count a closed execution; a machine marked DELETING goes when its last one ends."""
        machine.running -= 1
        if machine.status == "DELETING" and machine.running == 0:
            self.machines.pop(machine.arn, None)
