"""Parallel states: every branch runs on the same input; the result is the list of outputs."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from fleet.emulator._retry import Failure

if TYPE_CHECKING:
    from fleet.emulator._asl import State
    from fleet.emulator._runner import Runner


class _Branches:
    __slots__ = ("left", "results")

    def __init__(self, count: int) -> None:
        self.results: list[Any] = [None] * count
        self.left = count


def start(runner: Runner, state: State, effective: Any) -> None:
    """ParallelStateStarted, then one child runner per branch (started on the next tick)."""
    runner.history.add("ParallelStateStarted", None)
    progress = _Branches(len(state.branches))
    runner.scratch = progress
    loop = runner.runtime.loop
    for index, branch in enumerate(state.branches):
        child = runner.spawn(
            branch,
            functools.partial(_branch_done, runner, progress, index),
            functools.partial(_branch_failed, runner, progress),
        )
        # Children start from the loop, so that a long chain of states never deepens the stack.
        loop.call_soon(child.start, effective, None)


def _branch_done(
    runner: Runner, progress: _Branches, index: int, output: Any, text: str | None
) -> None:
    if runner.scratch is not progress or runner.closed:
        return
    progress.results[index] = output
    progress.left -= 1
    if progress.left == 0:
        runner.scratch = None
        runner.children = []
        runner.history.add("ParallelStateSucceeded", None)
        runner.complete(progress.results, None)


def _branch_failed(runner: Runner, progress: _Branches, failure: Failure) -> None:
    if runner.scratch is not progress or runner.closed:
        return
    runner.scratch = None
    for child in runner.children:
        child.stop()
    runner.children = []
    runner.history.add("ParallelStateFailed", None)
    runner.state_failed(failure)
