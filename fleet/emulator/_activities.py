"""Activity tasks and the per-activity queue that pairs them with waiting long polls, FIFO."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from asyncio import TimerHandle

    from fleet.emulator._runner import Runner


class ActivityTask:
    """One scheduled activity task, from ActivityScheduled until it closes."""

    __slots__ = (
        "closed",
        "deadline",
        "heartbeat",
        "input_text",
        "last_beat",
        "runner",
        "timeout",
        "timer",
        "token",
    )

    def __init__(
        self,
        runner: Runner,
        input_text: str,
        timeout: float | None,
        heartbeat: float | None,
    ) -> None:
        self.runner = runner
        self.input_text = input_text
        self.timeout = timeout
        """Service seconds from ActivityStarted to States.Timeout, if set."""
        self.heartbeat = heartbeat
        """Service seconds allowed between heartbeats, if set."""
        self.token = ""
        self.closed = False
        self.deadline = 0.0
        self.last_beat = 0.0
        self.timer: TimerHandle | None = None


class Poll(Protocol):
    """A GetActivityTask call waiting for a task."""

    def offer(self, task: ActivityTask) -> bool:
        """Take `task` if this poll can still answer; False to pass it to the next poll."""

    def expire(self) -> None:
        """Answer now with no task, as when the hold time ends, and leave the queue."""

    def cancel(self) -> None:
        """Stop waiting without answering (the endpoint is closing)."""


class ActivityQueue:
    """Tasks waiting for a worker, and polls waiting for a task; at most one side is non-empty."""

    __slots__ = ("pending", "polls")

    def __init__(self) -> None:
        self.pending: deque[ActivityTask] = deque()
        self.polls: deque[Poll] = deque()

    def schedule(self, task: ActivityTask) -> None:
        """Give `task` to the oldest waiting poll that takes it, else queue it."""
        polls = self.polls
        while polls:
            if polls.popleft().offer(task):
                return
        self.pending.append(task)

    def take(self) -> ActivityTask | None:
        """The oldest queued task that is still open, if any."""
        pending = self.pending
        while pending:
            task = pending.popleft()
            if not task.closed:
                return task
        return None
