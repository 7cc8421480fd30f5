"""Worker operations: GetActivityTask (long poll) and SendTaskSuccess/Failure/Heartbeat."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from fleet.emulator._activities import ActivityQueue, ActivityTask
from fleet.emulator._call import Call, Responder
from fleet.emulator._errors import ApiError, invalid_token, task_timed_out
from fleet.emulator._ops_resources import EMPTY, activity
from fleet.emulator._retry import Failure
from fleet.emulator._runtime import Runtime

DEFERRED = None
"""What GetActivityTask returns when the poll waits; the poll answers the call itself."""


def _answer(token: str, task: ActivityTask) -> bytes:
    return json.dumps({"taskToken": token, "input": task.input_text}).encode()


class LongPoll:
    """A GetActivityTask call held open until a task comes or the hold time ends."""

    __slots__ = ("done", "queue", "responder", "runtime", "timer", "worker")

    def __init__(
        self, runtime: Runtime, queue: ActivityQueue, responder: Responder, worker: str | None
    ) -> None:
        self.runtime, self.queue, self.responder, self.worker = runtime, queue, responder, worker
        self.done = False
        self.timer = runtime.loop.call_later(runtime.options.long_poll_seconds, self.expire)

    def offer(self, task: ActivityTask) -> bool:
        """Take `task` and answer with it (see `Poll.offer`)."""
        if self.done:
            return False
        self._end()
        token = task.runner.task_started(task, self.worker)
        if self.responder.closed:
            # Lost-poll mode: the service hands out the task although nobody will read it.
            self.runtime.stats.tasks_handed_to_closed_polls += 1
        else:
            self.responder.respond(200, _answer(token, task))
        return True

    def expire(self) -> None:
        """The hold time is over: answer the empty poll (`{}`, no taskToken)."""
        if not self.done:
            self._end()
            self._leave_queue()
            self.responder.respond(200, EMPTY)

    def cancel(self) -> None:
        """Stop waiting without answering (the endpoint is closing)."""
        if not self.done:
            self._end()

    def disconnected(self) -> None:
        """The client went away; the poll stays in line only in lost-poll mode."""
        if self.done:
            return
        self.runtime.stats.polls_abandoned += 1
        if not self.runtime.options.lost_polls:
            self._end()
            self._leave_queue()

    def _end(self) -> None:
        self.done = True
        self.timer.cancel()
        if self.responder.poll is self:
            self.responder.poll = None

    def _leave_queue(self) -> None:
        with contextlib.suppress(ValueError):
            self.queue.polls.remove(self)


def get_activity_task(call: Call) -> Any:
    params = call.params
    runtime = call.runtime
    arn = params["activityArn"]
    activity(call, arn)
    queue = runtime.store.queue(arn)
    responder = call.responder
    if responder.closed and not runtime.options.lost_polls:
        # The client has gone already; taking a task now would lose it.
        return EMPTY
    worker = params.get("workerName")
    task = queue.take()
    if task is not None:
        token = task.runner.task_started(task, worker)
        if responder.closed:
            runtime.stats.tasks_handed_to_closed_polls += 1
        return _answer(token, task)
    if len(queue.polls) >= runtime.options.max_pollers_per_activity:
        raise ApiError(
            "ActivityWorkerLimitExceeded",
            "The maximum number of workers concurrently polling for activity tasks has been "
            "reached.",
        )
    if runtime.options.long_poll_seconds <= 0:
        return EMPTY
    poll = LongPoll(runtime, queue, responder, worker)
    queue.polls.append(poll)
    responder.poll = poll
    return DEFERRED


def _open_task(call: Call) -> ActivityTask:
    token = call.params["taskToken"]
    tokens = call.runtime.tokens
    task = tokens.open.get(token)
    if task is None:
        raise task_timed_out() if tokens.was_issued(token) else invalid_token()
    return task


def send_task_success(call: Call) -> Any:
    task = _open_task(call)
    output = call.params["output"]
    try:
        value = json.loads(output)
    except ValueError as exc:
        raise ApiError("InvalidOutput", f"Invalid Output: '{exc}'") from None
    task.runner.task_succeeded(task, output, value)
    return EMPTY


def send_task_failure(call: Call) -> Any:
    task = _open_task(call)
    params = call.params
    task.runner.task_failed(task, Failure(params.get("error"), params.get("cause")))
    return EMPTY


def send_task_heartbeat(call: Call) -> Any:
    task = _open_task(call)
    task.last_beat = call.runtime.loop.time()
    return EMPTY
