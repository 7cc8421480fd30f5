"""Task states whose resource is an activity: scheduling, the worker's clocks, the outcome."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fleet.emulator._activities import ActivityTask
from fleet.emulator._dataflow import MAX_SECONDS, seconds_at
from fleet.emulator._history import DETAILS, dumps
from fleet.emulator._jsonata import Expression, QueryEvaluationError
from fleet.emulator._retry import RUNTIME, TIMEOUT, Failure

if TYPE_CHECKING:
    from fleet.emulator._asl import State
    from fleet.emulator._runner import Runner

_SLACK = 1e-3


def error_details(error: str | None, cause: str | None) -> dict[str, str]:
    """`{"error", "cause"}` with only the members that are set."""
    details = {}
    if error is not None:
        details["error"] = error
    if cause is not None:
        details["cause"] = cause
    return details


def start(runner: Runner, state: State, effective: Any) -> None:
    """Record ActivityScheduled and queue the task for the activity's pollers.

    Raises StateDataError when TimeoutSecondsPath/HeartbeatSecondsPath do not resolve.
    """
    timeout = seconds_at(state.timeout_seconds, state.timeout_path, effective, runner)
    heartbeat = seconds_at(state.heartbeat_seconds, state.heartbeat_path, effective, runner)
    if state.timeout_expr is not None or state.heartbeat_expr is not None:
        states = runner.states(runner.state_input)
        timeout = _seconds(state.timeout_expr, states, runner, timeout)
        heartbeat = _seconds(state.heartbeat_expr, states, runner, heartbeat)
    store = runner.runtime.store
    if state.resource not in store.activities:
        name = state.name
        runner.fail_graph(
            Failure(
                RUNTIME,
                f"An error occurred while executing the state '{name}' (entered at the event id "
                f"#{runner.entered_id}). The activity {state.resource} does not exist.",
            )
        )
        return
    data = runner.state_input
    text = runner.state_text if effective is data and runner.state_text else dumps(effective)
    details: dict[str, Any] = {"resource": state.resource, "input": text, "inputDetails": DETAILS}
    if timeout is not None:
        details["timeoutInSeconds"] = timeout
    if heartbeat is not None:
        details["heartbeatInSeconds"] = heartbeat
    runner.history.add("ActivityScheduled", details)
    runner.task = ActivityTask(runner, text, timeout, heartbeat)
    store.queue(state.resource).schedule(runner.task)


def _seconds(
    expression: Expression | None, states: dict[str, Any], runner: Runner, fixed: int | None
) -> int | None:
    if expression is None:
        return fixed
    value = expression.evaluate(states, runner)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SECONDS:
        raise QueryEvaluationError(
            f"{expression.text} must give a positive integer of seconds, not {value!r}"
        )
    return value


def started(runner: Runner, task: ActivityTask, worker_name: str | None) -> str:
    """A poll took `task`: record ActivityStarted, start its clocks, return its token."""
    runtime = runner.runtime
    task.token = runtime.tokens.issue(task)
    runner.history.add("ActivityStarted", {"workerName": worker_name} if worker_name else {})
    now = runtime.loop.time()
    task.last_beat = now
    if task.timeout is not None:
        task.deadline = now + runtime.real_seconds(task.timeout)
    _arm(runner, task)
    runtime.stats.tasks_handed_out += 1
    return task.token


def _arm(runner: Runner, task: ActivityTask) -> None:
    deadlines = []
    if task.timeout is not None:
        deadlines.append(task.deadline)
    if task.heartbeat is not None:
        deadlines.append(task.last_beat + runner.runtime.real_seconds(task.heartbeat))
    if deadlines:
        task.timer = runner.runtime.loop.call_at(min(deadlines), _check_clocks, runner, task)


def _check_clocks(runner: Runner, task: ActivityTask) -> None:
    task.timer = None
    if task.closed:
        return
    now = runner.runtime.loop.time() + _SLACK
    if task.timeout is not None and now >= task.deadline:
        failed(runner, task, Failure(TIMEOUT), "ActivityTimedOut")
    elif task.heartbeat is not None and now >= task.last_beat + runner.runtime.real_seconds(
        task.heartbeat
    ):
        failed(runner, task, Failure(TIMEOUT, heartbeat=True), "ActivityTimedOut")
    else:
        _arm(runner, task)


def close(runner: Runner, task: ActivityTask) -> None:
    """Close `task`: its clocks stop and its token answers TaskTimedOut from now on."""
    task.closed = True
    if task.timer is not None:
        task.timer.cancel()
        task.timer = None
    if task.token:
        runner.runtime.tokens.close(task.token)
    runner.task = None


def succeeded(runner: Runner, task: ActivityTask, output_text: str, output: Any) -> None:
    """SendTaskSuccess: ActivitySucceeded, then the state's result processing."""
    close(runner, task)
    runner.history.add("ActivitySucceeded", {"output": output_text, "outputDetails": DETAILS})
    runner.complete(output, output_text)


def failed(runner: Runner, task: ActivityTask, failure: Failure, event: str) -> None:
    """SendTaskFailure or a timeout: the event, then Retry, Catch or the graph fails."""
    close(runner, task)
    runner.history.add(event, error_details(failure.error, failure.cause))
    runner.state_failed(failure)
