"""State machines written in JSONata (`QueryLanguage: "JSONata"`)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from emulator_support import code_of, create_machine, event_types, wait_closed

pytestmark = pytest.mark.emulator_options(time_scale=100.0)
_names = itertools.count()


async def _start(sfn: Any, definition: dict[str, Any], payload: Any) -> str:
    machine = await create_machine(sfn, definition, name=f"j{next(_names)}")
    started = await sfn.start_execution(stateMachineArn=machine, input=json.dumps(payload))
    return str(started["executionArn"])


async def test_a_jsonata_workflow_with_a_worker(sfn: Any) -> None:
    activity = (await sfn.create_activity(name="work"))["activityArn"]
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Prepare",
        "States": {
            "Prepare": {
                "Type": "Pass",
                "Assign": {"customer": "{% $states.input.customer %}", "rate": 2},
                "Output": {"items": "{% $states.input.items %}"},
                "Next": "Price",
            },
            "Price": {
                "Type": "Task",
                "Resource": activity,
                "Arguments": {
                    "total": "{% $sum($states.input.items.price) %}",
                    "who": "{% $uppercase($customer) %}",
                    "state": "{% $states.context.State.Name %}",
                },
                "Assign": {"charged": "{% $states.result.charged * $rate %}"},
                "Output": "{% $merge([$states.input, {'receipt': $states.result.id}]) %}",
                "Next": "Big?",
            },
            "Big?": {
                "Type": "Choice",
                "Choices": [
                    {
                        "Condition": "{% $charged > 10 %}",
                        "Output": {"big": True, "receipt": "{% $states.input.receipt %}"},
                        "Next": "Done",
                    }
                ],
                "Default": "Done",
            },
            "Done": {
                "Type": "Succeed",
                "Output": "{% $merge([$states.input, {'charged': $charged}]) %}",
            },
        },
    }
    arn = await _start(sfn, definition, {"customer": "ada", "items": [{"price": 3}, {"price": 4}]})
    task = await sfn.get_activity_task(activityArn=activity)
    assert json.loads(task["input"]) == {"total": 7, "who": "ADA", "state": "Price"}
    await sfn.send_task_success(taskToken=task["taskToken"], output='{"charged": 7, "id": "r1"}')
    described = await wait_closed(sfn, arn)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert json.loads(described["output"]) == {"big": True, "receipt": "r1", "charged": 14}
    assert await event_types(sfn, arn) == [
        "ExecutionStarted",
        "PassStateEntered",
        "PassStateExited",
        "TaskStateEntered",
        "ActivityScheduled",
        "ActivityStarted",
        "ActivitySucceeded",
        "TaskStateExited",
        "ChoiceStateEntered",
        "ChoiceStateExited",
        "SucceedStateEntered",
        "SucceedStateExited",
        "ExecutionSucceeded",
    ]


async def test_jsonata_map_parallel_wait_and_catch(sfn: Any) -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "Items": "{% $states.input.numbers %}",
                "ItemSelector": {
                    "n": "{% $states.context.Map.Item.Value %}",
                    "i": "{% $states.context.Map.Item.Index %}",
                },
                "ItemProcessor": {
                    "StartAt": "Square",
                    "States": {
                        "Square": {
                            "Type": "Pass",
                            "Output": "{% $states.input.n * $states.input.n + $states.input.i %}",
                            "End": True,
                        }
                    },
                },
                "Output": {"squares": "{% $states.result %}"},
                "Next": "Both",
            },
            "Both": {
                "Type": "Parallel",
                "Arguments": {"sum": "{% $sum($states.input.squares) %}"},
                "Branches": [
                    {
                        "StartAt": "Pause",
                        "States": {
                            "Pause": {
                                "Type": "Wait",
                                "Seconds": "{% $states.input.sum %}",
                                "End": True,
                            }
                        },
                    },
                    {
                        "StartAt": "Boom",
                        "States": {
                            "Boom": {
                                "Type": "Fail",
                                "Error": "{% 'Too' & 'Big' %}",
                                "Cause": "{% $string($states.input.sum) %}",
                            }
                        },
                    },
                ],
                "Catch": [
                    {
                        "ErrorEquals": ["TooBig"],
                        "Output": {"caught": "{% $states.errorOutput %}"},
                        "Next": "After",
                    }
                ],
                "End": True,
            },
            "After": {"Type": "Pass", "End": True},
        },
    }
    arn = await _start(sfn, definition, {"numbers": [1, 2, 3]})
    described = await wait_closed(sfn, arn)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert json.loads(described["output"]) == {"caught": {"Error": "TooBig", "Cause": "17"}}


async def test_one_jsonata_state_in_a_jsonpath_machine(sfn: Any) -> None:
    definition = {
        "StartAt": "Path",
        "States": {
            "Path": {"Type": "Pass", "Parameters": {"x.$": "$.x"}, "Next": "Ata"},
            "Ata": {
                "Type": "Pass",
                "QueryLanguage": "JSONata",
                "Output": {"double": "{% $states.input.x * 2 %}"},
                "End": True,
            },
        },
    }
    described = await wait_closed(sfn, await _start(sfn, definition, {"x": 21, "y": 0}))
    assert json.loads(described["output"]) == {"double": 42}


async def test_a_failing_expression_is_a_query_evaluation_error(sfn: Any) -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Output": "{% $number('not a number') %}", "End": True}},
    }
    arn = await _start(sfn, definition, {})
    described = await wait_closed(sfn, arn)
    assert described["error"] == "States.QueryEvaluationError"
    assert "An error occurred while executing the state 'P'" in described["cause"]
    history = (await sfn.get_execution_history(executionArn=arn))["events"]
    assert [e["type"] for e in history] == [
        "ExecutionStarted",
        "PassStateEntered",
        "EvaluationFailed",
        "ExecutionFailed",
    ]
    failed = history[2]["evaluationFailedEventDetails"]
    assert (failed["error"], failed["state"]) == ("States.QueryEvaluationError", "P")


@pytest.mark.parametrize(
    ("state", "problem"),
    [
        ({"Type": "Pass", "Output": "{% 1 + %}", "End": True}, "Invalid JSONata expression"),
        (
            {"Type": "Pass", "InputPath": "$.x", "End": True},
            "The field 'InputPath' is not supported with QueryLanguage JSONata",
        ),
        (
            {"Type": "Choice", "Choices": [{"Variable": "$.x", "Next": "S"}], "Default": "S"},
            "The field 'Variable' is not supported in a JSONata choice rule",
        ),
    ],
)
async def test_invalid_jsonata_is_refused_at_create(
    sfn: Any, state: dict[str, Any], problem: str
) -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "A",
        "States": {"A": state, "S": {"Type": "Succeed"}},
    }
    with pytest.raises(ClientError) as caught:
        await create_machine(sfn, definition)
    assert code_of(caught.value) == "InvalidDefinition"
    assert problem in caught.value.response["Error"]["Message"]


async def test_jsonata_fields_need_the_jsonata_language(sfn: Any) -> None:
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Output": {}, "End": True}}}
    with pytest.raises(ClientError) as caught:
        await create_machine(sfn, definition)
    assert (
        "The field 'Output' needs QueryLanguage JSONata"
        in caught.value.response["Error"]["Message"]
    )


async def test_task_timeouts_can_be_expressions(sfn: Any) -> None:
    activity = (await sfn.create_activity(name="work"))["activityArn"]
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": activity,
                "TimeoutSeconds": "{% $states.input.t %}",
                "HeartbeatSeconds": "{% $states.input.t - 1 %}",
                "End": True,
            }
        },
    }
    arn = await _start(sfn, definition, {"t": 5})
    history = (await sfn.get_execution_history(executionArn=arn))["events"]
    scheduled = history[2]["activityScheduledEventDetails"]
    assert (scheduled["timeoutInSeconds"], scheduled["heartbeatInSeconds"]) == (5, 4)
    await sfn.stop_execution(executionArn=arn)

    failed = await wait_closed(sfn, await _start(sfn, definition, {"t": "soon"}))
    assert failed["error"] == "States.QueryEvaluationError"
