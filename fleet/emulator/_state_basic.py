"""The states that need no worker: Pass, Choice, Wait, Succeed and Fail.

Each is a function of the runner, the state and its input that returns where to go next (or
None when the runner waits for a timer or has ended), in JSONPath or JSONata.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fleet.emulator._dataflow import place, rfc3339, select, wait_target
from fleet.emulator._history import dumps
from fleet.emulator._jsonata import Expression, QueryEvaluationError
from fleet.emulator._jsonpath import Path, StateDataError
from fleet.emulator._retry import Failure

if TYPE_CHECKING:
    from fleet.emulator._asl import State
    from fleet.emulator._runner import Runner, Step


def pass_(runner: Runner, state: State, data: Any) -> Step:
    """Pass: Result or Parameters, placed by ResultPath (JSONata: Output)."""
    if state.jsonata:
        output = runner.jsonata_output(state, runner.states(data), data)
        return runner.leave(state, output, runner.state_text if output is data else None)
    effective = runner.effective(state, data)
    result = state.result if state.has_result else effective
    output = select(state.output_path, place(state.result_path, data, result), runner)
    runner.assign(state.assign, result)
    return runner.leave(state, output, runner.state_text if output is data else None)


def choice(runner: Runner, state: State, data: Any) -> Step:
    """Choice: the first rule that holds, else Default, else States.NoChoiceMatched."""
    if state.jsonata:
        return _jsonata_choice(runner, state, data)
    effective = select(state.input_path, data, runner)
    chosen = next((c for c in state.choices if c[0](effective, runner)), None)
    target = chosen[1] if chosen else state.default
    if target is None:
        runner.fail_graph(Failure("States.NoChoiceMatched", f"No Matches! in state '{state.name}'"))
        return None
    output = select(state.output_path, effective, runner)
    values = {}
    for template in (state.assign, chosen[2] if chosen else None):
        if template is not None:
            values.update(template.render(effective, runner))
    runner.set_variables(values)
    return (
        target,
        output,
        runner.exited(state, output, runner.state_text if output is data else None),
    )


def _jsonata_choice(runner: Runner, state: State, data: Any) -> Step:
    states = runner.states(data)
    chosen = next((c for c in state.choices if c[0](states, runner)), None)
    target = chosen[1] if chosen else state.default
    if target is None:
        runner.fail_graph(Failure("States.NoChoiceMatched", f"No Matches! in state '{state.name}'"))
        return None
    output = data
    template = chosen[3] if chosen and chosen[3] is not None else state.output
    if template is not None:
        output = template.render(states, runner)
    values = {}
    for assign in (state.assign, chosen[2] if chosen else None):
        if assign is not None:
            values.update(assign.render(states, runner))
    runner.set_variables(values)
    text = runner.exited(state, output, runner.state_text if output is data else None)
    return target, output, text


def wait(runner: Runner, state: State, data: Any) -> Step:
    """Wait: a timer for Seconds or until Timestamp (or their paths or expressions)."""
    effective = data if state.jsonata else select(state.input_path, data, runner)
    value = state.wait_value
    if isinstance(value, Path):
        value = wait_target(value, effective, runner, state.wait_field)
    elif isinstance(value, Expression):
        value = _wait_value(value.evaluate(runner.states(data), runner), state.wait_field)
    if isinstance(value, datetime):
        delay = runner.runtime.real_seconds(max(0.0, value.timestamp() - time.time()))
        runner.timer = runner.runtime.loop.call_later(delay, _waited, runner, state, effective)
    else:
        runner.timer = runner.runtime.later(value, _waited, runner, state, effective)
    return None


def _waited(runner: Runner, state: State, effective: Any) -> None:
    runner.timer = None
    try:
        if state.jsonata:
            output = runner.jsonata_output(state, runner.states(effective), effective)
        else:
            output = select(state.output_path, effective, runner)
            runner.assign(state.assign, effective)
        step = runner.leave(state, output, None)
    except StateDataError as exc:
        runner.state_failed(runner.failure_of(exc))
        return
    if step is not None:
        runner.run(*step)


def succeed(runner: Runner, state: State, data: Any) -> Step:
    """Succeed: the graph ends with the state's output."""
    if state.jsonata:
        output = runner.jsonata_output(state, runner.states(data), data)
        return runner.leave(state, output, runner.state_text if output is data else None)
    effective = select(state.input_path, data, runner)
    output = select(state.output_path, effective, runner)
    return runner.leave(state, output, runner.state_text if output is data else None)


def fail(runner: Runner, state: State, data: Any) -> Step:
    """Fail: the graph fails with Error and Cause (or their paths or expressions)."""
    error, cause = state.error, state.cause
    if state.fail_template is not None:
        values = state.fail_template.render(runner.states(data), runner)
        error, cause = values.get("Error"), values.get("Cause")
        if not all(v is None or isinstance(v, str) for v in (error, cause)):
            raise QueryEvaluationError("The Error and Cause of a Fail state must be strings")
    if state.error_path is not None:
        value = select(state.error_path, data, runner)
        error = value if isinstance(value, str) else dumps(value)
    if state.cause_path is not None:
        value = select(state.cause_path, data, runner)
        cause = value if isinstance(value, str) else dumps(value)
    runner.fail_graph(Failure(error, cause))
    return None


def _wait_value(value: Any, field: str) -> float | datetime:
    if field == "Seconds":
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise QueryEvaluationError(
                f"The Seconds of a Wait state must be a number >= 0: {value!r}"
            )
        return float(value)
    stamp = rfc3339(value)
    if stamp is None:
        raise QueryEvaluationError(
            f"The Timestamp of a Wait state must be an RFC 3339 timestamp with a zone: {value!r}"
        )
    return stamp
