"""The generated state machine, and the lint of a given ASL file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from deploy_support import ACCOUNT, EXAMPLE

from deploy.asl import generate, lint, load_definition
from deploy.errors import PreflightError
from deploy.stack import Stack, load_stack

ARN = f"arn:aws:states:us-east-1:{ACCOUNT}:activity:HelloWorldActivity"


def _stack(*overrides: str, path: Path = EXAMPLE) -> Stack:
    return load_stack(path, list(overrides))


def test_generated_machine_for_the_example() -> None:
    assert generate(_stack(), ACCOUNT) == {
        "Comment": "sfn-fleet stack",
        "StartAt": "HelloWorldActivity",
        "TimeoutSeconds": 86400,
        "States": {
            "HelloWorldActivity": {
                "Type": "Task",
                "Resource": ARN,
                "HeartbeatSeconds": 60,
                "TimeoutSeconds": 900,
                "Parameters": {
                    "input.$": "$",
                    "enteredTime.$": "$$.State.EnteredTime",
                    "retryCount.$": "$$.State.RetryCount",
                    "executionId.$": "$$.Execution.Id",
                },
                "Retry": [
                    {
                        "ErrorEquals": ["Fleet.Draining", "Fleet.Interrupted"],
                        "IntervalSeconds": 1,
                        "MaxAttempts": 5,
                        "BackoffRate": 2.0,
                    },
                    {
                        "ErrorEquals": ["States.Timeout", "States.HeartbeatTimeout"],
                        "IntervalSeconds": 5,
                        "MaxAttempts": 2,
                        "BackoffRate": 2.0,
                    },
                ],
                "End": True,
            }
        },
    }


def test_several_activities_run_in_order_and_context_is_optional(tmp_path: Path) -> None:
    path = tmp_path / "two.toml"
    path.write_text(
        EXAMPLE.read_text()
        + '\n[[activities]]\nname = "Second"\nheartbeat_seconds = 10\ntimeout_seconds = 20\n'
    )
    stack = _stack(
        "state_machine.pass_context=false", "activities.1.retry.errors=['Boom']", path=path
    )
    states = generate(stack, ACCOUNT)["States"]
    assert states["HelloWorldActivity"]["Next"] == "Second"
    assert states["Second"]["End"] is True
    assert "Parameters" not in states["Second"]
    assert states["Second"]["Retry"][-1] == {
        "ErrorEquals": ["Boom"],
        "IntervalSeconds": 1,
        "MaxAttempts": 2,
        "BackoffRate": 2.0,
    }
    assert not [p for p in lint(generate(stack, ACCOUNT), stack, ACCOUNT)]


def _machine(**task: Any) -> dict[str, Any]:
    state = {"Type": "Task", "Resource": ARN, "HeartbeatSeconds": 30, "End": True, **task}
    return {"StartAt": "Work", "States": {"Work": state}}


def _errors(definition: dict[str, Any]) -> list[str]:
    return [
        f"{p.where}: {p.message}"
        for p in lint(definition, _stack(), ACCOUNT)
        if p.severity == "error"
    ]


def test_lint_requires_the_drain_and_timeout_retriers() -> None:
    errors = _errors(_machine())
    assert any(e.startswith("Work: no Retry for Fleet.Draining") for e in errors)
    assert any(e.startswith("Work: no Retry for Fleet.Interrupted") for e in errors)
    assert any(e.startswith("Work: no Retry for States.Timeout") for e in errors)
    assert len(errors) == 3


def test_lint_accepts_wildcards_but_task_failed_does_not_cover_timeouts() -> None:
    assert _errors(_machine(Retry=[{"ErrorEquals": ["States.ALL"]}])) == []
    errors = _errors(_machine(Retry=[{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 3}]))
    assert len(errors) == 1
    assert "States.Timeout" in errors[0]


def test_lint_ignores_retriers_with_no_attempts() -> None:
    retry = [
        {"ErrorEquals": ["Fleet.Draining", "Fleet.Interrupted"], "MaxAttempts": 0},
        {"ErrorEquals": ["States.Timeout"], "MaxAttempts": 2},
    ]
    assert len(_errors(_machine(Retry=retry))) == 2


def test_lint_looks_inside_parallel_branches_and_flags_foreign_activities() -> None:
    inner = _machine(Resource=ARN.replace("HelloWorldActivity", "Other"))
    definition = {
        "StartAt": "Fan",
        "States": {"Fan": {"Type": "Parallel", "Branches": [inner], "End": True}},
    }
    errors = _errors(definition)
    assert any(
        e.startswith("Fan.Branches[0].Work: arn:") and "not one of this stack's activities" in e
        for e in errors
    )


def test_lint_warns_without_heartbeat() -> None:
    definition = _machine(Retry=[{"ErrorEquals": ["States.ALL"]}])
    del definition["States"]["Work"]["HeartbeatSeconds"]
    warnings = [p.message for p in lint(definition, _stack(), ACCOUNT) if p.severity == "warning"]
    assert any("no HeartbeatSeconds" in w for w in warnings)


def test_given_file_is_substituted_and_linted(tmp_path: Path) -> None:
    good = _machine(
        Resource="${Activity.HelloWorldActivity}", Retry=[{"ErrorEquals": ["States.ALL"]}]
    )
    (tmp_path / "good.json").write_text(json.dumps(good))
    (tmp_path / "bad.json").write_text(
        json.dumps(_machine(Resource="${Activity.HelloWorldActivity}"))
    )
    stack_file = tmp_path / "stack.toml"
    stack_file.write_text(EXAMPLE.read_text())

    stack = _stack('state_machine.definition_file="good.json"', path=stack_file)
    assert load_definition(stack, ACCOUNT)["States"]["Work"]["Resource"] == ARN

    stack = _stack('state_machine.definition_file="bad.json"', path=stack_file)
    with pytest.raises(PreflightError) as info:
        load_definition(stack, ACCOUNT)
    assert f"state_machine.definition_file {tmp_path / 'bad.json'} fails the lint" in str(
        info.value
    )
    assert "Work: no Retry for Fleet.Draining" in str(info.value)
