"""One execution of a state machine: a small state machine itself, driven by API calls and timers.

No asyncio task per execution: a running execution is a record plus at most two timer handles,
so tens of thousands can be open at once. Transitions run synchronously inside the call or timer
that caused them, which also makes them cheap.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

from fleet.emulator._activities import ActivityTask
from fleet.emulator._asl import State
from fleet.emulator._dataflow import StateDataError, place, seconds_at, select, wait_target
from fleet.emulator._history import History
from fleet.emulator._jsonpath import Path
from fleet.emulator._retry import RUNTIME, TIMEOUT, Failure, pick_catcher, pick_retrier
from fleet.emulator._runtime import Runtime
from fleet.emulator._store import StateMachine

# Transitions run back to back within one call at most this many times, then yield to the loop,
# so that a definition that loops through Pass/Choice states cannot starve the endpoint.
_BURST = 1000
# AWS fails an execution whose history reaches 25,000 events (a hard quota).
MAX_EVENTS = 25_000
_SLACK = 1e-3
_DETAILS = {"truncated": False}


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def iso(timestamp: float) -> str:
    """An epoch timestamp as the context object shows it (`2024-01-01T00:00:00.000Z`)."""
    text = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


class Execution:
    """A state machine execution and its history."""

    __slots__ = (
        "arn",
        "attempts",
        "cause",
        "deadline_timer",
        "definition",
        "entered_id",
        "entered_time",
        "error",
        "history",
        "input_text",
        "input_value",
        "machine",
        "name",
        "output",
        "retry_count",
        "runtime",
        "seq",
        "started",
        "state",
        "state_input",
        "state_text",
        "status",
        "stopped",
        "task",
        "timer",
    )

    def __init__(
        self,
        runtime: Runtime,
        machine: StateMachine,
        arn: str,
        name: str,
        input_text: str,
        input_value: Any,
        seq: int,
    ) -> None:
        self.runtime = runtime
        self.machine = machine
        self.definition = machine.definition
        self.arn, self.name, self.seq = arn, name, seq
        self.input_text, self.input_value = input_text, input_value
        self.status = "RUNNING"
        self.started = time.time()
        self.stopped: float | None = None
        self.output: str | None = None
        self.error: str | None = None
        self.cause: str | None = None
        self.history = History()
        self.timer: asyncio.Handle | None = None
        self.deadline_timer: asyncio.TimerHandle | None = None
        self.task: ActivityTask | None = None
        self.state: State | None = None
        self.state_input: Any = None
        self.state_text: str | None = None
        self.entered_id = 0
        self.entered_time = 0.0
        self.retry_count = 0
        self.attempts: list[int] = []

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Record ExecutionStarted and run until the first state that waits."""
        self.history.add(
            "ExecutionStarted",
            {"input": self.input_text, "inputDetails": _DETAILS, "roleArn": self.machine.role_arn},
        )
        if self.definition.timeout_seconds:
            self.deadline_timer = self.runtime.later(self.definition.timeout_seconds, self._expired)
        self._run(self.definition.start_at, self.input_value, self.input_text)

    def abort(self, error: str | None, cause: str | None) -> None:
        """StopExecution: ABORTED; an open activity task closes (its token: TaskTimedOut)."""
        if self.status == "RUNNING":
            self._finish("ABORTED", "ExecutionAborted", _error_details(error, cause))
            self.error, self.cause = error, cause

    def cancel_timers(self) -> None:
        """Cancel pending timers (endpoint shutdown)."""
        task_timer = self.task.timer if self.task is not None else None
        for timer in (self.timer, self.deadline_timer, task_timer):
            if timer is not None:
                timer.cancel()

    def _expired(self) -> None:
        self.deadline_timer = None
        if self.status == "RUNNING":
            self.error = TIMEOUT
            self._finish("TIMED_OUT", "ExecutionTimedOut", {"error": TIMEOUT})

    def _finish(self, status: str, event: str, details: dict[str, Any]) -> None:
        self.status = status
        self.stopped = time.time()
        self.history.add(event, details)
        self.cancel_timers()
        self.timer = self.deadline_timer = None
        if self.task is not None:
            self._close_task(self.task)
        self.runtime.running.discard(self)
        self.runtime.store.execution_closed(self.machine)

    def _succeed(self, output: Any, text: str | None) -> None:
        self.output = _dumps(output) if text is None else text
        self._finish(
            "SUCCEEDED", "ExecutionSucceeded", {"output": self.output, "outputDetails": _DETAILS}
        )

    def _fail(self, error: str | None, cause: str | None) -> None:
        self.error, self.cause = error, cause
        self._finish("FAILED", "ExecutionFailed", _error_details(error, cause))

    def _runtime_error(self, message: str) -> None:
        name = self.state.name if self.state else ""
        self._fail(
            RUNTIME,
            f"An error occurred while executing the state '{name}' "
            f"(entered at the event id #{self.entered_id}). {message}",
        )

    # -- transitions ----------------------------------------------------------------------------

    def context(self) -> dict[str, Any]:
        """The context object (`$$`) of the current state; activities get no Task.Token."""
        state = self.state
        return {
            "Execution": {
                "Id": self.arn,
                "Input": self.input_value,
                "Name": self.name,
                "RoleArn": self.machine.role_arn,
                "StartTime": iso(self.started),
                "RedriveCount": 0,
            },
            "State": {
                "EnteredTime": iso(self.entered_time),
                "Name": state.name if state else "",
                "RetryCount": self.retry_count,
            },
            "StateMachine": {"Id": self.machine.arn, "Name": self.machine.name},
        }

    def _run(self, name: str | None, data: Any, text: str | None) -> None:
        for _ in range(_BURST):
            if name is None or self.status != "RUNNING":
                return
            if len(self.history) >= MAX_EVENTS - 3:
                self._fail(
                    RUNTIME, f"The execution reached the limit of {MAX_EVENTS} history events."
                )
                return
            state = self.definition.states[name]
            self._enter(state, data, text)
            try:
                step = _STEPS[state.type](self, state, data)
            except StateDataError as exc:
                self._runtime_error(str(exc))
                return
            if step is None:
                return
            name, data, text = step
        self.timer = self.runtime.loop.call_soon(self._run, name, data, text)

    def _enter(self, state: State, data: Any, text: str | None) -> None:
        if text is None:
            text = _dumps(data)
        self.state, self.state_input, self.state_text = state, data, text
        self.retry_count = 0
        self.attempts = []
        self.entered_time = time.time()
        previous = 0 if len(self.history) == 1 else None
        self.entered_id = self.history.add(
            f"{state.type}StateEntered",
            {"name": state.name, "input": text, "inputDetails": _DETAILS},
            previous,
        )

    def _exited(self, state: State, output: Any, text: str | None) -> str:
        if text is None:
            text = _dumps(output)
        self.history.add(
            f"{state.type}StateExited",
            {"name": state.name, "output": text, "outputDetails": _DETAILS},
        )
        return text

    def _leave(self, state: State, output: Any, text: str | None) -> tuple[str | None, Any, str]:
        text = self._exited(state, output, text)
        if state.next is None:
            self._succeed(output, text)
        return state.next, output, text

    def _effective(self, state: State, data: Any) -> Any:
        effective = select(state.input_path, data, self.context)
        if state.parameters is not None:
            effective = state.parameters.render(effective, self.context)
        return effective

    def _pass(self, state: State, data: Any) -> tuple[str | None, Any, str | None]:
        effective = self._effective(state, data)
        result = state.result if state.has_result else effective
        output = select(state.output_path, place(state.result_path, data, result), self.context)
        return self._leave(state, output, self.state_text if output is data else None)

    def _choice(self, state: State, data: Any) -> tuple[str | None, Any, str | None] | None:
        effective = select(state.input_path, data, self.context)
        target = next((n for rule, n in state.choices if rule(effective, self.context)), None)
        target = target or state.default
        if target is None:
            self._fail("States.NoChoiceMatched", f"No Matches! in state '{state.name}'")
            return None
        output = select(state.output_path, effective, self.context)
        return (
            target,
            output,
            self._exited(state, output, self.state_text if output is data else None),
        )

    def _wait(self, state: State, data: Any) -> None:
        effective = select(state.input_path, data, self.context)
        value = state.wait_value
        if isinstance(value, Path):
            value = wait_target(value, effective, state.wait_field)
        if isinstance(value, datetime):
            delay = self.runtime.real_seconds(max(0.0, value.timestamp() - time.time()))
            self.timer = self.runtime.loop.call_later(delay, self._waited, state, effective)
        else:
            self.timer = self.runtime.later(value, self._waited, state, effective)

    def _waited(self, state: State, effective: Any) -> None:
        self.timer = None
        try:
            output = select(state.output_path, effective, self.context)
        except StateDataError as exc:
            self._runtime_error(str(exc))
            return
        self._run(*self._leave(state, output, None))

    def _succeed_state(self, state: State, data: Any) -> None:
        effective = select(state.input_path, data, self.context)
        output = select(state.output_path, effective, self.context)
        self._leave(state, output, self.state_text if output is data else None)

    def _fail_state(self, state: State, data: Any) -> None:
        error, cause = state.error, state.cause
        for path, field in ((state.error_path, "ErrorPath"), (state.cause_path, "CausePath")):
            if path is not None:
                value = select(path, data, self.context)
                if field == "ErrorPath":
                    error = value if isinstance(value, str) else _dumps(value)
                else:
                    cause = value if isinstance(value, str) else _dumps(value)
        self._fail(error, cause)

    # -- activity tasks -----------------------------------------------------------------------

    def _task(self, state: State, data: Any) -> None:
        self._schedule()

    def _schedule(self) -> None:
        self.timer = None
        state, data = self.state, self.state_input
        assert state is not None
        try:
            effective = self._effective(state, data)
            timeout = seconds_at(state.timeout_seconds, state.timeout_path, effective, self.context)
            heartbeat = seconds_at(
                state.heartbeat_seconds, state.heartbeat_path, effective, self.context
            )
        except StateDataError as exc:
            self._runtime_error(str(exc))
            return
        store = self.runtime.store
        if state.resource not in store.activities:
            self._runtime_error(f"The activity {state.resource} does not exist.")
            return
        text = self.state_text if effective is data and self.state_text else _dumps(effective)
        details: dict[str, Any] = {
            "resource": state.resource,
            "input": text,
            "inputDetails": _DETAILS,
        }
        if timeout is not None:
            details["timeoutInSeconds"] = timeout
        if heartbeat is not None:
            details["heartbeatInSeconds"] = heartbeat
        self.history.add("ActivityScheduled", details)
        self.task = ActivityTask(self, text, timeout, heartbeat)
        store.queue(state.resource).schedule(self.task)

    def task_started(self, task: ActivityTask, worker_name: str | None) -> str:
        """A poll took `task`: record ActivityStarted, start its clocks, return its token."""
        runtime = self.runtime
        task.token = runtime.tokens.issue(task)
        self.history.add("ActivityStarted", {"workerName": worker_name} if worker_name else {})
        now = runtime.loop.time()
        task.last_beat = now
        if task.timeout is not None:
            task.deadline = now + runtime.real_seconds(task.timeout)
        self._arm(task)
        runtime.stats.tasks_handed_out += 1
        return task.token

    def _arm(self, task: ActivityTask) -> None:
        deadlines = []
        if task.timeout is not None:
            deadlines.append(task.deadline)
        if task.heartbeat is not None:
            deadlines.append(task.last_beat + self.runtime.real_seconds(task.heartbeat))
        if deadlines:
            task.timer = self.runtime.loop.call_at(min(deadlines), self._check_clocks, task)

    def _check_clocks(self, task: ActivityTask) -> None:
        task.timer = None
        if task.closed:
            return
        now = self.runtime.loop.time() + _SLACK
        if task.timeout is not None and now >= task.deadline:
            self.task_failed(task, Failure(TIMEOUT), "ActivityTimedOut")
        elif task.heartbeat is not None and now >= task.last_beat + self.runtime.real_seconds(
            task.heartbeat
        ):
            self.task_failed(task, Failure(TIMEOUT, heartbeat=True), "ActivityTimedOut")
        else:
            self._arm(task)

    def _close_task(self, task: ActivityTask) -> None:
        task.closed = True
        if task.timer is not None:
            task.timer.cancel()
            task.timer = None
        if task.token:
            self.runtime.tokens.close(task.token)
        self.task = None

    def task_succeeded(self, task: ActivityTask, output_text: str, output: Any) -> None:
        """SendTaskSuccess: ActivitySucceeded, then ResultSelector/ResultPath/OutputPath."""
        self._close_task(task)
        self.history.add("ActivitySucceeded", {"output": output_text, "outputDetails": _DETAILS})
        state = self.state
        assert state is not None
        try:
            result = output
            if state.result_selector is not None:
                result = state.result_selector.render(result, self.context)
            merged = place(state.result_path, self.state_input, result)
            final = select(state.output_path, merged, self.context)
        except StateDataError as exc:
            self._runtime_error(str(exc))
            return
        self._run(*self._leave(state, final, output_text if final is output else None))

    def task_failed(
        self, task: ActivityTask, failure: Failure, event: str = "ActivityFailed"
    ) -> None:
        """SendTaskFailure or a timeout: the event, then Retry, Catch or ExecutionFailed."""
        self._close_task(task)
        self.history.add(event, _error_details(failure.error, failure.cause))
        state = self.state
        assert state is not None
        index = pick_retrier(state.retriers, failure)
        if index is not None:
            if not self.attempts:
                self.attempts = [0] * len(state.retriers)
            retrier = state.retriers[index]
            done = self.attempts[index]
            if done < retrier.max_attempts:
                self.attempts[index] = done + 1
                self.retry_count += 1
                self.timer = self.runtime.later(
                    retrier.delay(done, self.runtime.rng), self._schedule
                )
                return
        catcher = pick_catcher(state.catchers, failure)
        if catcher is None:
            self._fail(failure.error, failure.cause)
            return
        try:
            output = place(catcher.result_path, self.state_input, failure.as_output())
        except StateDataError as exc:
            self._runtime_error(str(exc))
            return
        self._run(catcher.next, output, self._exited(state, output, None))


def _error_details(error: str | None, cause: str | None) -> dict[str, str]:
    details = {}
    if error is not None:
        details["error"] = error
    if cause is not None:
        details["cause"] = cause
    return details


_STEPS: dict[str, Any] = {
    "Task": Execution._task,
    "Pass": Execution._pass,
    "Wait": Execution._wait,
    "Choice": Execution._choice,
    "Succeed": Execution._succeed_state,
    "Fail": Execution._fail_state,
}
