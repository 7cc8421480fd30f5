"""What every resource kind implements: read current state, desired state, diff, act."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from deploy.aws import Aws
from deploy.names import Names
from deploy.sizing import Sizing
from deploy.stack import STACK_TAG, Stack

KNOWN_AFTER_APPLY = "(known after apply)"
State = dict[str, Any]
Action = Literal["create", "update", "unchanged", "delete", "absent", "conflict"]


@dataclass
class Context:
    """What resources need: the stack, its sizing and names, clients, and earlier outputs.

    ``outputs`` carries values one resource produces and a later one uses (the task
    definition ARN for the service and schedules, a policy ARN for an alarm). In a plan they
    may be ``KNOWN_AFTER_APPLY``.
    """

    stack: Stack
    sizing: Sizing
    names: Names
    aws: Aws
    definition: dict[str, Any]
    destroying: bool = False
    # Seconds between reads while waiting on AWS (service stable, service drained).
    poll_seconds: float = 10.0
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """One field that differs: ``current`` is None when the field is not set yet."""

    field: str
    current: Any
    desired: Any


@dataclass
class Step:
    """One row of a plan, or one thing apply/destroy did."""

    kind: str
    name: str
    action: Action
    changes: list[Change] = field(default_factory=list)
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return {
            "kind": self.kind,
            "name": self.name,
            "action": self.action,
            "changes": [
                {"field": c.field, "current": c.current, "desired": c.desired} for c in self.changes
            ],
            "note": self.note,
        }


def diff(
    current: Any, desired: Any, path: str = "", unreported: frozenset[str] = frozenset()
) -> list[Change]:
    """Leaf-level differences for the keys ``desired`` has; ``current``'s extra keys are ignored.

    Keys in ``unreported`` that ``current`` lacks are skipped: some endpoints do not return
    every field they store, and what they do not report cannot be compared.
    """
    if isinstance(desired, dict) and isinstance(current, dict):
        out: list[Change] = []
        for key, value in desired.items():
            sub = f"{path}.{key}" if path else str(key)
            if key not in current and sub in unreported:
                continue
            out += diff(current.get(key), value, sub, unreported)
        return out
    if isinstance(desired, dict) and current is None:
        return diff({}, desired, path, unreported)
    if current != desired:
        return [Change(path, current, desired)]
    return []


def top_fields(changes: list[Change]) -> set[str]:
    """The top-level field names that ``changes`` touch."""
    return {c.field.split(".")[0] for c in changes}


def tag_list(tags: dict[str, str], key: str = "key", value: str = "value") -> list[dict[str, str]]:
    """``tags`` in the list-of-pairs shape many AWS APIs use."""
    return [{key: k, value: v} for k, v in sorted(tags.items())]


def tag_dict(
    items: list[dict[str, str]] | None, key: str = "key", value: str = "value"
) -> dict[str, str]:
    """The dict form of a list of tag pairs."""
    return {item[key]: item[value] for item in items or []}


class Resource:
    """One AWS resource the stack owns, identified by a stack-derived name."""

    kind: ClassVar[str] = "resource"
    # Dotted fields an endpoint may store but not return; a missing one is not a difference.
    unreported: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, ctx: Context, name: str) -> None:
        self.ctx = ctx
        self.name = name

    @property
    def aws(self) -> Aws:
        """The clients."""
        return self.ctx.aws

    @property
    def names(self) -> Names:
        """The stack's names and ARNs."""
        return self.ctx.names

    @property
    def tags(self) -> dict[str, str]:
        """The tags the resource should carry."""
        return self.ctx.stack.tag_dict()

    async def read(self) -> State | None:
        """The current state, normalised like ``desired()``; None if it does not exist."""
        raise NotImplementedError

    def desired(self) -> State | None:
        """The state the stack wants; None if the resource should not exist."""
        raise NotImplementedError

    def owned(self, current: State) -> bool:
        """Whether the existing resource is this stack's (by tag where the kind has tags)."""
        if "tags" not in current:
            return True
        return bool(current["tags"].get(STACK_TAG) == self.ctx.stack.name)

    def changes(self, current: State, desired: State) -> list[Change]:
        """What differs between ``current`` and ``desired``."""
        return diff(current, desired, unreported=self.unreported)

    def record(self, current: State | None) -> None:
        """Publish outputs (ARNs) from ``current``; None means they are known after apply."""

    def replaces(self, changes: list[Change]) -> bool:
        """Whether applying ``changes`` gives the resource a new identity (a new ARN)."""
        return False

    async def create(self, desired: State) -> None:
        """Create the resource."""
        raise NotImplementedError

    async def update(self, current: State, desired: State, changes: list[Change]) -> None:
        """Bring the resource to ``desired``, touching what ``changes`` lists."""
        raise NotImplementedError

    async def delete(self, current: State) -> None:
        """Delete the resource."""
        raise NotImplementedError

    async def after_create(self, desired: State) -> None:
        """Hook run after create (e.g. set fields the create call cannot)."""
