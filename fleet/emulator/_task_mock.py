"""Task states whose resource is a service integration, answered from the mock configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fleet.emulator._history import DETAILS, dumps
from fleet.emulator._mocks import Answer, MockConfigError
from fleet.emulator._retry import RUNTIME, Failure
from fleet.emulator._task_activity import error_details

if TYPE_CHECKING:
    from fleet.emulator._asl import State
    from fleet.emulator._runner import Runner


def resource_parts(resource: str) -> tuple[str, str]:
    """(resourceType, resource) as history events name them: `lambda`, `invoke`."""
    fields = resource.split(":", 6)
    if fields[2] == "states" and len(fields) > 6 and not fields[3] and not fields[4]:
        # arn:aws:states:::<service>:<action>[.sync|.waitForTaskToken]
        return fields[5], fields[6]
    return fields[2], resource


def start(runner: Runner, state: State, effective: Any) -> None:
    """Answer the task from the execution's test case.

    TaskScheduled and TaskStarted now; TaskSucceeded or TaskFailed on the next tick.
    """
    execution = runner.execution
    invocation = execution.mock_calls.get(state.name, 0)
    execution.mock_calls[state.name] = invocation + 1
    case = execution.test_case
    try:
        mocks = runner.runtime.mocks
    except MockConfigError as exc:
        mocks, case = None, None
        broken: str | None = str(exc)
    else:
        broken = None
    if broken is not None:
        answer: Answer | str = broken
    elif mocks is None or case is None:
        reason = (
            "no mock configuration is loaded (fleet emulator --mock-config FILE)"
            if mocks is None
            else "the execution names no test case (<stateMachineArn>#<TestCase>)"
        )
        answer = (
            f"The resource {state.resource} is not an activity and {reason}; the local endpoint "
            "does not call AWS services."
        )
    else:
        answer = mocks.answer(execution.machine.name, case, state.name, invocation)
    if isinstance(answer, str):
        runner.fail_graph(
            Failure(
                RUNTIME,
                f"An error occurred while executing the state '{state.name}' (entered at the "
                f"event id #{runner.entered_id}). {answer}",
            )
        )
        return
    kind, name = resource_parts(state.resource)
    if kind == "lambda" and ":function:" in state.resource:
        # A Lambda function ARN as the resource (the older integration): Lambda* events.
        text = dumps(effective)
        details = {"resource": state.resource, "input": text, "inputDetails": DETAILS}
        runner.history.add("LambdaFunctionScheduled", details)
        runner.history.add("LambdaFunctionStarted", None)
        runner.timer = runner.runtime.loop.call_soon(_answer_lambda, runner, answer)
        return
    region = execution.arn.split(":")[3]
    runner.history.add(
        "TaskScheduled",
        {"resourceType": kind, "resource": name, "region": region, "parameters": dumps(effective)},
    )
    runner.history.add("TaskStarted", {"resourceType": kind, "resource": name})
    runner.timer = runner.runtime.loop.call_soon(_answer, runner, kind, name, answer)


def _answer(runner: Runner, kind: str, name: str, answer: Answer) -> None:
    runner.timer = None
    if answer.throws:
        details = {"resourceType": kind, "resource": name}
        runner.history.add("TaskFailed", {**details, **error_details(answer.error, answer.cause)})
        runner.state_failed(Failure(answer.error, answer.cause))
        return
    text = dumps(answer.output)
    runner.history.add(
        "TaskSucceeded",
        {"resourceType": kind, "resource": name, "output": text, "outputDetails": DETAILS},
    )
    runner.complete(answer.output, text)


def _answer_lambda(runner: Runner, answer: Answer) -> None:
    runner.timer = None
    if answer.throws:
        details = error_details(answer.error, answer.cause)
        runner.history.add("LambdaFunctionFailed", details)
        runner.state_failed(Failure(answer.error, answer.cause))
        return
    text = dumps(answer.output)
    runner.history.add("LambdaFunctionSucceeded", {"output": text, "outputDetails": DETAILS})
    runner.complete(answer.output, text)
