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
    # The image the task definition runs, pinned by digest once the image is in ECR.
    image: str = ""
    destroying: bool = False
    # Seconds between reads while waiting on AWS (service stable, service drained).
    poll_seconds: float = 10.0
    outputs: dict[str, str] = field(default_factory=dict)
    image_warnings: list[str] = field(default_factory=list)


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


# Keys that identify the items of a list of objects, so that lists diff item by item.
_ITEM_KEYS = ("Sid", "Id", "name", "capacityProvider", "containerPort")


def diff(
    current: Any,
    desired: Any,
    path: str = "",
    unreported: frozenset[str] = frozenset(),
    ignored: frozenset[str] = frozenset(),
) -> list[Change]:
    """Leaf-level differences between ``current`` and ``desired``, both ways.

    A key ``current`` has and ``desired`` lacks is a change to remove it. Keys in
    ``unreported`` that ``current`` lacks are skipped (some endpoints do not return every
    field they store); paths in ``ignored`` (read-only fields such as ARNs) are never compared.
    Lists of objects with an identifying key (``Sid``, ``Id``, ``name``) are compared item by
    item, so that one changed IAM statement is one change.

    >>> [(c.field, c.current, c.desired) for c in diff({"a": 1, "b": 2}, {"a": 1})]
    [('b', 2, None)]
    """
    if isinstance(desired, dict) and isinstance(current, dict | None):
        current = current or {}
        out: list[Change] = []
        for key, value in desired.items():
            sub = f"{path}.{key}" if path else str(key)
            if sub in ignored or (key not in current and sub in unreported):
                continue
            out += diff(current.get(key), value, sub, unreported, ignored)
        for key, value in current.items():
            sub = f"{path}.{key}" if path else str(key)
            if key not in desired and value is not None and sub not in ignored:
                out.append(Change(sub, value, None))
        return out
    if isinstance(desired, list) and isinstance(current, list) and current != desired:
        keyed = _by_identity(current, desired)
        if keyed is not None:
            before, after = keyed
            out = []
            for ident in list(after) + [i for i in before if i not in after]:
                out += diff(before.get(ident), after.get(ident), f"{path}[{ident}]")
            return out
    if current != desired:
        return [Change(path, current, desired)]
    return []


def _by_identity(
    current: list[Any], desired: list[Any]
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Both lists keyed by their items' identifying key; None if they have none.

    Lists of objects without one, of equal length, are keyed by position.
    """
    items = current + desired
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in _ITEM_KEYS:
        if all(key in i for i in items):
            before = {str(i[key]): i for i in current}
            after = {str(i[key]): i for i in desired}
            if len(before) == len(current) and len(after) == len(desired):
                return before, after
    if len(current) == len(desired):
        return (
            {str(n): i for n, i in enumerate(current)},
            {str(n): i for n, i in enumerate(desired)},
        )
    return None


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
    # Fields read for later use (ARNs, counts others own) that deploy never sets.
    ignored: ClassVar[frozenset[str]] = frozenset({"arn"})

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

    def conflict_note(self, current: State) -> str | None:
        """Why the resource is not the stack's and how to fix it, where the kind knows better."""
        return None

    def changes(self, current: State, desired: State) -> list[Change]:
        """What differs between ``current`` and ``desired``."""
        return diff(current, desired, unreported=self.unreported, ignored=self.ignored)

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
