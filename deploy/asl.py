"""The state machine: generated from the activities, or a given ASL file, and its lint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from deploy.errors import PreflightError
from deploy.stack import ActivitySpec, Stack
from fleet._arn import build as build_arn
from fleet._machine import DRAIN_ERRORS, TIMEOUT_ERRORS, RetryPolicy
from fleet._machine import task_state as recommended_task_state


def activity_arn(region: str, account: str, name: str) -> str:
    """The ARN Step Functions gives the activity ``name``."""
    return build_arn(region, account, "activity", name)


def task_state(activity: ActivitySpec, arn: str, pass_context: bool) -> dict[str, Any]:
    """One Task state for ``activity`` with the retriers the worker's error names need."""
    retry = activity.retry
    policy = RetryPolicy(
        interval_seconds=retry.interval_seconds,
        max_attempts=retry.max_attempts,
        backoff_rate=retry.backoff_rate,
        timeout_interval_seconds=retry.timeout_interval_seconds,
        timeout_max_attempts=retry.timeout_max_attempts,
        errors=retry.errors,
        errors_max_attempts=retry.errors_max_attempts,
    )
    return recommended_task_state(
        arn,
        heartbeat_seconds=activity.heartbeat_seconds,
        timeout_seconds=activity.timeout_seconds,
        retry=policy,
        pass_context=pass_context,
    )


def generate(stack: Stack, account: str) -> dict[str, Any]:
    """The state machine for ``stack``: its activities' Task states, one after another."""
    states: dict[str, Any] = {}
    names = [a.name for a in stack.activities]
    for index, activity in enumerate(stack.activities):
        arn = activity_arn(stack.region, account, stack.activity_prefix + activity.name)
        state = task_state(activity, arn, stack.state_machine.pass_context)
        if index + 1 < len(names):
            state["Next"] = names[index + 1]
        else:
            state["End"] = True
        states[activity.name] = state
    definition: dict[str, Any] = {"Comment": stack.state_machine.comment, "StartAt": names[0]}
    if stack.state_machine.timeout_seconds is not None:
        # Covers executions stuck in ActivityScheduled, which task timeouts do not.
        definition["TimeoutSeconds"] = stack.state_machine.timeout_seconds
    definition["States"] = states
    return definition


def substitute(text: str, stack: Stack, account: str) -> str:
    """Fill ``${Region}``, ``${AccountId}`` and ``${Activity.<name>}`` in a given ASL file."""
    values = {"${Region}": stack.region, "${AccountId}": account}
    for activity in stack.activities:
        values[f"${{Activity.{activity.name}}}"] = activity_arn(
            stack.region, account, stack.activity_prefix + activity.name
        )
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def load_definition(stack: Stack, account: str) -> dict[str, Any]:
    """The definition for ``stack``: generated, or read from its definition_file.

    Raises PreflightError if the file is not JSON or fails the lint.
    """
    file = stack.state_machine.definition_file
    if file is None:
        return generate(stack, account)
    path = stack.base_dir / file
    try:
        definition: dict[str, Any] = json.loads(
            substitute(path.read_text(encoding="utf-8"), stack, account)
        )
    except (OSError, json.JSONDecodeError) as exc:
        raise PreflightError(f"state_machine.definition_file {path}: {exc}") from None
    if not isinstance(definition, dict):
        raise PreflightError(f"state_machine.definition_file {path}: not a JSON object")
    problems = [p for p in lint(definition, stack, account) if p.severity == "error"]
    if problems:
        body = "\n".join(f"  {p.where}: {p.message}" for p in problems)
        raise PreflightError(f"state_machine.definition_file {path} fails the lint:\n{body}")
    return definition


@dataclass(frozen=True)
class LintProblem:
    """One problem in a state machine: ``where`` is the state path, ``severity`` error|warning."""

    severity: str
    where: str
    message: str


def _task_states(states: dict[str, Any], prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        path = f"{prefix}{name}"
        if state.get("Type") == "Task":
            yield path, state
        for index, branch in enumerate(state.get("Branches", [])):
            yield from _task_states(branch.get("States", {}), f"{path}.Branches[{index}].")
        for key in ("ItemProcessor", "Iterator"):
            if isinstance(state.get(key), dict):
                yield from _task_states(state[key].get("States", {}), f"{path}.{key}.")


def _covered(retriers: list[dict[str, Any]], error: str) -> bool:
    """Whether a retrier with attempts left matches ``error`` (States.TaskFailed skips timeouts)."""
    for retrier in retriers:
        if retrier.get("MaxAttempts", 3) == 0:
            continue
        names = retrier.get("ErrorEquals", [])
        if error in names or "States.ALL" in names:
            return True
        if "States.TaskFailed" in names and error not in TIMEOUT_ERRORS:
            return True
    return False


def lint(definition: dict[str, Any], stack: Stack, account: str) -> list[LintProblem]:
    """Check every activity Task state for the retriers and clocks the fleet relies on.

    Errors: a Task on an activity this stack does not run (it would wait forever), no retrier
    for Fleet.Draining / Fleet.Interrupted, none for States.Timeout / States.HeartbeatTimeout.
    Warnings: no HeartbeatSeconds (a lost task then hangs for the 99,999,999 s default).
    """
    known = {
        activity_arn(stack.region, account, stack.activity_prefix + a.name)
        for a in stack.activities
    }
    problems: list[LintProblem] = []
    states = definition.get("States")
    if not isinstance(states, dict) or "StartAt" not in definition:
        return [LintProblem("error", "(top level)", "needs StartAt and States")]
    used: set[str] = set()
    for where, state in _task_states(states, ""):
        resource = str(state.get("Resource", ""))
        if ":activity:" not in resource:
            continue
        used.add(resource)
        if resource not in known:
            problems.append(
                LintProblem("error", where, f"{resource} is not one of this stack's activities")
            )
        retriers = state.get("Retry", [])
        for error in DRAIN_ERRORS:
            if not _covered(retriers, error):
                problems.append(
                    LintProblem(
                        "error",
                        where,
                        f"no Retry for {error}: add {json.dumps(RetryPolicy().drain_retrier())}",
                    )
                )
        if not any(_covered(retriers, e) for e in TIMEOUT_ERRORS):
            problems.append(
                LintProblem(
                    "error",
                    where,
                    "no Retry for States.Timeout / States.HeartbeatTimeout: a killed worker's "
                    "task would fail the execution instead of moving to another worker",
                )
            )
        if "HeartbeatSeconds" not in state and "HeartbeatSecondsPath" not in state:
            problems.append(
                LintProblem(
                    "warning",
                    where,
                    "no HeartbeatSeconds: a task lost with its worker waits for TimeoutSeconds "
                    "(default 99,999,999 s)",
                )
            )
    for arn in sorted(known - used):
        problems.append(
            LintProblem("warning", "(states)", f"no Task state uses the activity {arn}")
        )
    return problems
