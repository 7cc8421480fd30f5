"""Runners: each is one thread of control through a graph of states.

A runner runs a whole execution, a Parallel branch or a Map iteration.
A runner enters a state, records its events in the execution's history, and moves on. States
that wait (Task, Parallel, Map, Wait) hand control to a timer, a worker or child runners, which
call back into the runner when they finish. Transitions run synchronously inside the call or
timer that caused them, which keeps them cheap.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fleet._limits import MAX_PAYLOAD_BYTES
from fleet.emulator import (
    _state_basic,
    _state_map,
    _state_parallel,
    _task_activity,
    _task_mock,
)
from fleet.emulator._activities import ActivityTask
from fleet.emulator._asl import Definition, State
from fleet.emulator._dataflow import StateDataError, place, select
from fleet.emulator._history import DETAILS, dumps
from fleet.emulator._jsonata import QueryEvaluationError
from fleet.emulator._retry import DATA_LIMIT, RUNTIME, Failure, pick_catcher, pick_retrier

if TYPE_CHECKING:
    import asyncio

    from fleet.emulator._interpreter import Execution

# Transitions run back to back within one call at most this many times, then yield to the loop,
# so that a definition that loops through Pass/Choice states cannot starve the endpoint.
_BURST = 1000
# AWS fails an execution whose history reaches 25,000 events (a hard quota).
MAX_EVENTS = 25_000

Step = tuple[str | None, Any, str | None] | None
"""What running a state gives: the next state, its input and that input's JSON, or None when
the state waits (a timer, a worker or child runners will resume the runner)."""


def _too_large(text: str) -> bool:
    # Most payloads are far below the limit: count bytes only when characters come close.
    return len(text) * 4 > MAX_PAYLOAD_BYTES and len(text.encode()) > MAX_PAYLOAD_BYTES


class DataLimitExceeded(StateDataError):
    """A state's input or output is over the payload quota (terminal, States.ALL misses it)."""

    error = DATA_LIMIT


class Runner:
    """Runs states of one graph until it ends, then reports success or failure to its owner."""

    __slots__ = (
        "assigned",
        "attempts",
        "children",
        "closed",
        "entered_id",
        "entered_time",
        "execution",
        "graph",
        "history",
        "on_failure",
        "on_success",
        "retry_count",
        "runtime",
        "scratch",
        "state",
        "state_input",
        "state_text",
        "task",
        "timer",
        "variables",
    )

    def __init__(
        self,
        execution: Execution,
        graph: Definition,
        variables: dict[str, Any],
        on_success: Callable[[Any, str | None], None],
        on_failure: Callable[[Failure], None],
    ) -> None:
        self.execution = execution
        self.runtime = execution.runtime
        self.history = execution.history
        self.graph = graph
        self.variables = variables
        """Workflow variables in scope; a branch starts with a copy of its parent's."""
        self.on_success = on_success
        self.on_failure = on_failure
        self.closed = False
        self.state: State | None = None
        self.state_input: Any = None
        self.state_text: str | None = None
        self.entered_id = 0
        self.entered_time = 0.0
        self.retry_count = 0
        self.attempts: list[int] = []
        self.timer: asyncio.Handle | None = None
        self.task: ActivityTask | None = None
        self.children: list[Runner] = []
        self.assigned: dict[str, Any] = {}
        """Variables the current state assigned, for its StateExited event."""
        self.scratch: Any = None
        """What a waiting Parallel or Map state keeps between its children's reports."""

    # -- the Env protocol of paths and templates ----------------------------------------------

    def context(self) -> dict[str, Any]:
        """The context object (`$$`) of the current state; activities get no Task.Token."""
        out = self.execution.context()
        state = self.state
        out["State"] = {
            "EnteredTime": iso(self.entered_time),
            "Name": state.name if state else "",
            "RetryCount": self.retry_count,
        }
        return out

    # -- life cycle ---------------------------------------------------------------------------

    def start(self, data: Any, text: str | None) -> None:
        """Run from the graph's StartAt state."""
        self.run(self.graph.start_at, data, text)

    def spawn(
        self,
        graph: Definition,
        on_success: Callable[[Any, str | None], None],
        on_failure: Callable[[Failure], None],
    ) -> Runner:
        """A child runner for a branch or an iteration, seeing a copy of this one's variables."""
        child = Runner(self.execution, graph, dict(self.variables), on_success, on_failure)
        self.children.append(child)
        return child

    def redrive(self) -> None:
        """Go on after a failure or a stop: run again the state that did not finish.

        A Parallel or Map state runs again only its branches and iterations that did not
        succeed, as AWS redrives them; everything that succeeded keeps its result.
        """
        state = self.state
        assert state is not None
        self.closed = False
        progress = self.scratch
        # `scratch` holds the progress of the last Parallel or Map state this runner ran.
        if progress is not None and progress.state is state:
            _RESUMES[state.type](self, state, progress)
        else:
            self.run(state.name, self.state_input, self.state_text)

    def resume_child(self, child: Runner) -> None:
        """Redrive `child`, unless this runner has been stopped since it was scheduled."""
        if not self.closed:
            child.redrive()

    def stop(self) -> None:
        """Stop at once: timers cancelled, an open task closed, children stopped."""
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.task is not None:
            _task_activity.close(self, self.task)
        for child in self.children:
            child.stop()
        self.children = []

    # -- transitions ----------------------------------------------------------------------------

    def run(self, name: str | None, data: Any, text: str | None) -> None:
        """Run states from `name` until one waits, the graph ends or a failure stops it."""
        for _ in range(_BURST):
            if name is None or self.closed:
                return
            if len(self.history) >= MAX_EVENTS - 3:
                self.fail_graph(
                    Failure(RUNTIME, f"The execution reached the limit of {MAX_EVENTS} events.")
                )
                return
            state = self.graph.states[name]
            try:
                self._enter(state, data, text)
                step = _STEPS[state.type](self, state, data)
            except StateDataError as exc:
                self.state_failed(self.failure_of(exc))
                return
            if step is None:
                return
            name, data, text = step
        self.timer = self.runtime.loop.call_soon(self.run, name, data, text)

    def _enter(self, state: State, data: Any, text: str | None) -> None:
        if text is None:
            text = dumps(data)
        self.state, self.state_input, self.state_text = state, data, text
        self.retry_count = 0
        self.attempts = []
        self.assigned = {}
        self.scratch = None
        self.entered_time = time.time()
        previous = 0 if len(self.history) == 1 else None
        self.entered_id = self.history.add(
            f"{state.type}StateEntered",
            {"name": state.name, "input": text, "inputDetails": DETAILS},
            previous,
        )
        if _too_large(text):
            raise DataLimitExceeded(
                f"The state '{state.name}' received an input with a size exceeding the maximum "
                "number of bytes service limit."
            )

    def exited(self, state: State, output: Any, text: str | None) -> str:
        """Record StateExited; raises DataLimitExceeded when the output is over the quota."""
        if text is None:
            text = dumps(output)
        if _too_large(text):
            raise DataLimitExceeded(
                f"The state/task '{state.name}' returned a result with a size exceeding the "
                "maximum number of bytes service limit."
            )
        details: dict[str, Any] = {"name": state.name, "output": text, "outputDetails": DETAILS}
        if self.assigned:
            details["assignedVariables"] = {k: dumps(v) for k, v in self.assigned.items()}
            details["assignedVariablesDetails"] = DETAILS
        self.history.add(f"{state.type}StateExited", details)
        return text

    def leave(self, state: State, output: Any, text: str | None) -> Step:
        """Exit `state` towards its Next, or end the graph with its output."""
        text = self.exited(state, output, text)
        if state.next is None:
            self.closed = True
            self.on_success(output, text)
            return None
        return state.next, output, text

    def failure_of(self, exc: StateDataError) -> Failure:
        """The failure a data-processing error stands for, its cause worded as AWS words it.

        A failed JSONata expression is also recorded as an EvaluationFailed event.
        """
        if isinstance(exc, DataLimitExceeded):
            return Failure(exc.error, str(exc))
        name = self.state.name if self.state else ""
        cause = (
            f"An error occurred while executing the state '{name}' "
            f"(entered at the event id #{self.entered_id}). {exc}"
        )
        if isinstance(exc, QueryEvaluationError):
            self.history.add(
                "EvaluationFailed", {"error": exc.error, "cause": cause, "state": name}
            )
        return Failure(exc.error, cause)

    def states(self, data: Any, **more: Any) -> dict[str, Any]:
        """`$states` of a JSONata expression: input, context, and result or errorOutput."""
        return {"input": data, "context": self.context(), **more}

    def jsonata_output(self, state: State, states: dict[str, Any], default: Any) -> Any:
        """A JSONata state's Output (its default: `default`), its Assign applied."""
        output = default if state.output is None else state.output.render(states, self)
        self.assign(state.assign, states)
        return output

    def effective(self, state: State, data: Any) -> Any:
        """The input the state works on: InputPath, then Parameters (JSONata: Arguments)."""
        if state.jsonata:
            if state.arguments is None:
                return data
            return state.arguments.render(self.states(data), self)
        value = select(state.input_path, data, self)
        if state.parameters is not None:
            value = state.parameters.render(value, self)
        return value

    def assign(self, template: Any, value: Any) -> None:
        """Evaluate an Assign block against `value`, then set every variable at once."""
        if template is not None:
            self.set_variables(template.render(value, self))

    def set_variables(self, values: dict[str, Any]) -> None:
        """Set workflow variables; the state's StateExited event lists them."""
        if values:
            self.variables.update(values)
            self.assigned.update(values)

    # -- results and failures of waiting states -----------------------------------------------

    def complete(self, result: Any, text: str | None) -> None:
        """A Task, Parallel or Map produced `result`: process it and go on to the next state.

        ResultSelector, then Assign, ResultPath and OutputPath.
        """
        state = self.state
        assert state is not None
        self.timer = None
        try:
            if state.jsonata:
                states = self.states(self.state_input, result=result)
                final = self.jsonata_output(state, states, result)
            else:
                if state.result_selector is not None:
                    result = state.result_selector.render(result, self)
                    text = None
                merged = place(state.result_path, self.state_input, result)
                final = select(state.output_path, merged, self)
                self.assign(state.assign, result)
            step = self.leave(state, final, text if final is result else None)
        except StateDataError as exc:
            self.state_failed(self.failure_of(exc))
            return
        if step is not None:
            self.run(*step)

    def state_failed(self, failure: Failure) -> None:
        """The current state failed: its Retry, then its Catch, else the graph fails."""
        state = self.state
        if self.closed or state is None:
            return
        self.timer = None
        index = pick_retrier(state.retriers, failure)
        if index is not None:
            if not self.attempts:
                self.attempts = [0] * len(state.retriers)
            retrier = state.retriers[index]
            done = self.attempts[index]
            if done < retrier.max_attempts:
                self.attempts[index] = done + 1
                self.retry_count += 1
                self.timer = self.runtime.later(retrier.delay(done, self.runtime.rng), self.attempt)
                return
        catcher = pick_catcher(state.catchers, failure)
        if catcher is None:
            self.fail_graph(failure)
            return
        error_output = failure.as_output()
        try:
            if state.jsonata:
                states = self.states(self.state_input, errorOutput=error_output)
                output = error_output
                if catcher.output is not None:
                    output = catcher.output.render(states, self)
                self.assign(catcher.assign, states)
            else:
                output = place(catcher.result_path, self.state_input, error_output)
                self.assign(catcher.assign, error_output)
            text = self.exited(state, output, None)
        except StateDataError as exc:
            self.fail_graph(self.failure_of(exc))
            return
        self.run(catcher.next, output, text)

    def fail_graph(self, failure: Failure) -> None:
        """End this runner with `failure`, reported to its owner."""
        if not self.closed:
            self.stop()
            self.on_failure(failure)

    def attempt(self) -> None:
        """Start (or, on retry, start again) the work of the current Task, Parallel or Map."""
        self.timer = None
        state = self.state
        assert state is not None
        try:
            effective = self.effective(state, self.state_input)
            _ACTIONS[state.type](self, state, effective)
        except StateDataError as exc:
            self.state_failed(self.failure_of(exc))

    def _waiting(self, state: State, data: Any) -> Step:
        self.attempt()
        return None

    # -- activity tasks (the worker-facing entry points) ----------------------------------------

    def task_started(self, task: ActivityTask, worker_name: str | None) -> str:
        """A poll took `task`: see `_task_activity.started`."""
        return _task_activity.started(self, task, worker_name)

    def task_succeeded(self, task: ActivityTask, output_text: str, output: Any) -> None:
        """SendTaskSuccess on this runner's task."""
        _task_activity.succeeded(self, task, output_text, output)

    def task_failed(
        self, task: ActivityTask, failure: Failure, event: str = "ActivityFailed"
    ) -> None:
        """SendTaskFailure or a timeout of this runner's task."""
        _task_activity.failed(self, task, failure, event)


def iso(timestamp: float) -> str:
    """An epoch timestamp as the context object shows it (`2024-01-01T00:00:00.000Z`)."""
    text = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _task(runner: Runner, state: State, effective: Any) -> None:
    if state.activity:
        _task_activity.start(runner, state, effective)
    else:
        _task_mock.start(runner, state, effective)


_STEPS: dict[str, Callable[[Runner, State, Any], Step]] = {
    "Task": Runner._waiting,
    "Parallel": Runner._waiting,
    "Map": Runner._waiting,
    "Pass": _state_basic.pass_,
    "Wait": _state_basic.wait,
    "Choice": _state_basic.choice,
    "Succeed": _state_basic.succeed,
    "Fail": _state_basic.fail,
}
# How a redriven Parallel or Map state picks up its unfinished branches or iterations.
_RESUMES: dict[str, Callable[[Runner, State, Any], None]] = {
    "Parallel": _state_parallel.resume,
    "Map": _state_map.resume,
}
# The work of the states that wait for others; each kind lives in its own module.
_ACTIONS: dict[str, Callable[[Runner, State, Any], None]] = {
    "Task": _task,
    "Parallel": _state_parallel.start,
    "Map": _state_map.start,
}
