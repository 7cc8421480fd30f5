"""Map states in INLINE mode: the item processor runs once per item.

At most MaxConcurrency iterations run at a time; the result lists the outputs in item order.
"""

from __future__ import annotations

import functools
from collections import deque
from typing import TYPE_CHECKING, Any

from fleet.emulator._asl_states import valid_limit
from fleet.emulator._dataflow import select
from fleet.emulator._jsonpath import Path, PathNotFound, StateDataError
from fleet.emulator._retry import Failure

if TYPE_CHECKING:
    from fleet.emulator._asl import State
    from fleet.emulator._runner import Runner

EXCEEDED = "States.ExceedToleratedFailureThreshold"


class _ItemEnv:
    """What ItemSelector sees: the runner's variables and context, plus `$$.Map.Item`."""

    __slots__ = ("index", "runner", "value")

    def __init__(self, runner: Runner, index: int, value: Any) -> None:
        self.runner, self.index, self.value = runner, index, value

    @property
    def variables(self) -> dict[str, Any]:
        return self.runner.variables

    def context(self) -> Any:
        out = self.runner.context()
        out["Map"] = {"Item": {"Index": self.index, "Value": self.value}}
        return out


class _Iterations:
    """The iterations of one run of a Map state; kept after a failure for a redrive."""

    __slots__ = (
        "failed",
        "inputs",
        "left",
        "limit",
        "open",
        "results",
        "runners",
        "running",
        "state",
        "succeeded",
        "tolerance",
        "waiting",
    )

    def __init__(
        self,
        state: State,
        inputs: list[Any],
        limit: int,
        tolerance: tuple[int | None, float | None],
    ) -> None:
        self.state = state
        self.open = True
        self.runners: dict[int, Runner] = {}
        self.succeeded: set[int] = set()
        self.inputs = inputs
        self.results: list[Any] = [None] * len(inputs)
        self.waiting = deque(range(len(inputs)))
        self.left = len(inputs)
        self.limit = limit
        self.running: dict[int, Runner] = {}
        self.failed = 0
        self.tolerance = tolerance

    def over_tolerance(self) -> bool:
        count, percent = self.tolerance
        if count is None and percent is None:
            return self.failed > 0
        if count is not None and self.failed > count:
            return True
        return percent is not None and self.failed * 100 > percent * len(self.inputs)


def _number(runner: Runner, fixed: Any, path: Path | None, data: Any, kind: str) -> Any:
    if path is None:
        return fixed
    try:
        value = path.read(data, runner)
    except PathNotFound:
        raise StateDataError(f"Invalid path '{path.text}' : No results for path") from None
    if not valid_limit(value, kind):
        raise StateDataError(f"The value at '{path.text}' is not a valid {kind}: {value!r}")
    return value


def start(runner: Runner, state: State, effective: Any) -> None:
    """MapStateStarted, then the iterations. Raises StateDataError for a bad ItemsPath."""
    if state.jsonata:
        states = runner.states(effective)
        items = effective if state.items is None else state.items.render(states, runner)
    else:
        items = select(state.items_path, effective, runner)
    if not isinstance(items, list):
        where = (
            "Items"
            if state.jsonata
            else f"ItemsPath '{state.items_path.text if state.items_path else '$'}'"
        )
        raise StateDataError(f"The {where} of a Map state must select an array")
    limit = int(
        _number(runner, state.max_concurrency, state.max_concurrency_path, effective, "count")
    )
    count = _number(runner, state.tolerated_count, state.tolerated_count_path, effective, "count")
    percent = _number(
        runner, state.tolerated_percentage, state.tolerated_percentage_path, effective, "percent"
    )
    inputs = []
    for index, item in enumerate(items):
        env = _ItemEnv(runner, index, item)
        if state.item_selector is None:
            inputs.append(item)
        elif state.jsonata:
            states = {"input": effective, "context": env.context()}
            inputs.append(state.item_selector.render(states, env))
        else:
            inputs.append(state.item_selector.render(effective, env))
    runner.history.add("MapStateStarted", {"length": len(items)})
    progress = _Iterations(state, inputs, limit, (count, percent))
    runner.scratch = progress
    if not inputs:
        _finish(runner, progress)
        return
    _fill(runner, state, progress)


def _fill(runner: Runner, state: State, progress: _Iterations) -> None:
    loop = runner.runtime.loop
    processor = state.processor
    assert processor is not None
    while progress.waiting and (not progress.limit or len(progress.running) < progress.limit):
        index = progress.waiting.popleft()
        child = runner.spawn(
            processor,
            functools.partial(_done, runner, state, progress, index),
            functools.partial(_failed, runner, state, progress, index),
        )
        progress.running[index] = progress.runners[index] = child
        runner.history.add("MapIterationStarted", {"name": state.name, "index": index})
        loop.call_soon(child.start, progress.inputs[index], None)


def resume(runner: Runner, state: State, progress: Any) -> None:
    """Redrive: run again only the iterations that failed or were stopped, then the rest."""
    assert isinstance(progress, _Iterations)
    progress.open = True
    progress.failed = 0
    progress.running = {}
    loop = runner.runtime.loop
    for index, child in sorted(progress.runners.items()):
        if index not in progress.succeeded:
            runner.children.append(child)
            progress.running[index] = child
            runner.history.add("MapIterationStarted", {"name": state.name, "index": index})
            loop.call_soon(runner.resume_child, child)
    _fill(runner, state, progress)


def _done(
    runner: Runner, state: State, progress: _Iterations, index: int, output: Any, text: Any
) -> None:
    if not progress.open or runner.closed:
        return
    runner.history.add("MapIterationSucceeded", {"name": state.name, "index": index})
    progress.succeeded.add(index)
    progress.results[index] = output
    _next(runner, state, progress, index)


def _failed(
    runner: Runner, state: State, progress: _Iterations, index: int, failure: Failure
) -> None:
    if not progress.open or runner.closed:
        return
    runner.history.add("MapIterationFailed", {"name": state.name, "index": index})
    progress.failed += 1
    progress.results[index] = failure.as_output()
    if progress.over_tolerance():
        progress.running.pop(index, None)
        progress.open = False
        for other, child in sorted(progress.running.items()):
            child.stop()
            runner.history.add("MapIterationAborted", {"name": state.name, "index": other})
        runner.children = []
        runner.history.add("MapStateFailed", None)
        if progress.tolerance != (None, None):
            failure = Failure(EXCEEDED, "The specified tolerated failure threshold was exceeded")
        runner.state_failed(failure)
        return
    _next(runner, state, progress, index)


def _next(runner: Runner, state: State, progress: _Iterations, index: int) -> None:
    child = progress.running.pop(index)
    runner.children.remove(child)
    progress.left -= 1
    if progress.left == 0:
        _finish(runner, progress)
    else:
        _fill(runner, state, progress)


def _finish(runner: Runner, progress: _Iterations) -> None:
    progress.open = False
    runner.scratch = None
    runner.history.add("MapStateSucceeded", None)
    runner.complete(progress.results, None)
