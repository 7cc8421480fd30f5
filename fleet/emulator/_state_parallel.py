"""Parallel states: every branch runs on the same input; the result is the list of outputs."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from fleet.emulator._retry import Failure

if TYPE_CHECKING:
    from fleet.emulator._asl import State
    from fleet.emulator._runner import Runner


class _Branches:
    """The branches of one run of a Parallel state; kept after a failure for a redrive."""

    __slots__ = ("done", "left", "open", "results", "runners", "state")

    def __init__(self, state: State) -> None:
        self.state = state
        self.results: list[Any] = [None] * len(state.branches)
        self.runners: list[Runner] = []
        self.done: set[int] = set()
        self.left = len(state.branches)
        self.open = True


def start(runner: Runner, state: State, effective: Any) -> None:
    """ParallelStateStarted, then one child runner per branch (started on the next tick)."""
    runner.history.add("ParallelStateStarted", None)
    progress = _Branches(state)
    runner.scratch = progress
    loop = runner.runtime.loop
    for index, branch in enumerate(state.branches):
        child = runner.spawn(
            branch,
            functools.partial(_branch_done, runner, progress, index),
            functools.partial(_branch_failed, runner, progress),
        )
        progress.runners.append(child)
        # Children start from the loop, so that a long chain of states never deepens the stack.
        loop.call_soon(child.start, effective, None)


def resume(runner: Runner, state: State, progress: Any) -> None:
    """Redrive: run again only the branches that failed or were stopped."""
    assert isinstance(progress, _Branches)
    progress.open = True
    loop = runner.runtime.loop
    for index, child in enumerate(progress.runners):
        if index not in progress.done:
            runner.children.append(child)
            loop.call_soon(runner.resume_child, child)


def _branch_done(
    runner: Runner, progress: _Branches, index: int, output: Any, text: str | None
) -> None:
    if not progress.open or runner.closed:
        return
    progress.results[index] = output
    progress.done.add(index)
    progress.left -= 1
    if progress.left == 0:
        progress.open = False
        runner.scratch = None
        runner.children = []
        runner.history.add("ParallelStateSucceeded", None)
        runner.complete(progress.results, None)


def _branch_failed(runner: Runner, progress: _Branches, failure: Failure) -> None:
    if not progress.open or runner.closed:
        return
    progress.open = False
    for child in runner.children:
        child.stop()
    runner.children = []
    runner.history.add("ParallelStateFailed", None)
    runner.state_failed(failure)
