"""The errors deploy raises; each stops the command with one clear message."""

from __future__ import annotations


class DeployError(Exception):
    """Base class: a problem the user must fix; the message says what and where."""


class StackFileError(DeployError):
    """The stack file cannot be read or does not validate; raised by ``load_stack``."""


class PreflightError(DeployError):
    """Something the stack refers to is missing or wrong (a subnet, an ASL retrier, a size).

    Raised before any mutating call, so nothing has changed.
    """


class ConflictError(DeployError):
    """A resource with a stack-derived name exists but is not tagged as this stack's.

    Raised before any mutating call; deploy never modifies or deletes what it did not create.
    """


class ResourceError(DeployError):
    """An AWS call failed while creating, updating or deleting one resource.

    Resources before it in dependency order are in place; running the command again continues.
    """

    def __init__(self, kind: str, name: str, action: str, code: str, message: str) -> None:
        self.kind = kind
        self.name = name
        self.action = action
        self.code = code
        super().__init__(f"{action} {kind} '{name}' failed: {code}: {message}")


class WaitTimeout(DeployError):
    """The ECS service did not become stable within the wait timeout."""


class RolloutFailed(DeployError):
    """The ECS deployment circuit breaker marked the rollout FAILED (and rolled back)."""
