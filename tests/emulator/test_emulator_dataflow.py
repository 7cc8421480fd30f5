"""Input and output processing, the context object, and the non-Task state types."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from emulator_support import code_of, create_machine, event_types, events, wait_closed

pytestmark = pytest.mark.emulator_options(time_scale=100.0)


async def _activity(sfn: Any, name: str = "work") -> str:
    return str((await sfn.create_activity(name=name))["activityArn"])


async def test_paths_and_parameters_around_a_task(sfn: Any) -> None:
    activity = await _activity(sfn)
    machine = await create_machine(
        sfn,
        {
            "StartAt": "Work",
            "States": {
                "Work": {
                    "Type": "Task",
                    "Resource": activity,
                    "End": True,
                    "InputPath": "$.order",
                    "Parameters": {
                        "id.$": "$.id",
                        "first.$": "$.items[0]",
                        "all.$": "$.items[*].sku",
                        "fixed": {"nested": [1, 2]},
                        "execution.$": "$$.Execution.Id",
                        "name.$": "$$.Execution.Name",
                        "started.$": "$$.Execution.StartTime",
                        "raw.$": "$$.Execution.Input",
                        "machine.$": "$$.StateMachine.Id",
                        "state.$": "$$.State.Name",
                        "entered.$": "$$.State.EnteredTime",
                        "retries.$": "$$.State.RetryCount",
                    },
                    "ResultSelector": {"total.$": "$.sum"},
                    "ResultPath": "$.order.result",
                    "OutputPath": "$.order",
                }
            },
        },
    )
    payload = {"order": {"id": 7, "items": [{"sku": "a"}, {"sku": "b"}]}, "other": 1}
    arn = (
        await sfn.start_execution(stateMachineArn=machine, name="ex-1", input=json.dumps(payload))
    )["executionArn"]
    task = await sfn.get_activity_task(activityArn=activity)
    given = json.loads(task["input"])
    assert given["id"] == 7
    assert given["first"] == {"sku": "a"}
    assert given["all"] == ["a", "b"]
    assert given["fixed"] == {"nested": [1, 2]}
    assert (given["execution"], given["name"], given["machine"]) == (arn, "ex-1", machine)
    assert given["raw"] == payload
    assert (given["state"], given["retries"]) == ("Work", 0)
    assert given["started"].endswith("Z")
    assert given["entered"] >= given["started"]

    await sfn.send_task_success(taskToken=task["taskToken"], output='{"sum": 12, "junk": 0}')
    described = await wait_closed(sfn, arn)
    assert json.loads(described["output"]) == {**payload["order"], "result": {"total": 12}}


async def test_null_paths(sfn: Any) -> None:
    activity = await _activity(sfn)
    machine = await create_machine(
        sfn,
        {
            "StartAt": "Work",
            "States": {
                "Work": {
                    "Type": "Task",
                    "Resource": activity,
                    "End": True,
                    "InputPath": None,
                    "ResultPath": None,
                }
            },
        },
    )
    arn = (await sfn.start_execution(stateMachineArn=machine, input='{"a": 1}'))["executionArn"]
    task = await sfn.get_activity_task(activityArn=activity)
    assert json.loads(task["input"]) == {}
    await sfn.send_task_success(taskToken=task["taskToken"], output='{"dropped": true}')
    assert json.loads((await wait_closed(sfn, arn))["output"]) == {"a": 1}


async def test_pass_choice_wait_succeed(sfn: Any) -> None:
    machine = await create_machine(
        sfn,
        {
            "StartAt": "Seed",
            "States": {
                "Seed": {
                    "Type": "Pass",
                    "Result": {"n": 3, "when": "2024-01-01T00:00:00Z"},
                    "ResultPath": "$.seed",
                    "Next": "Route",
                },
                "Route": {
                    "Type": "Choice",
                    "Default": "Nope",
                    "Choices": [
                        {"Variable": "$.seed.n", "NumericLessThan": 2, "Next": "Nope"},
                        {
                            "And": [
                                {"Variable": "$.seed.n", "NumericGreaterThanEqualsPath": "$.min"},
                                {
                                    "Variable": "$.seed.when",
                                    "TimestampLessThan": "2025-01-01T00:00:00Z",
                                },
                                {"Variable": "$.label", "StringMatches": "ord*-??"},
                                {"Not": {"Variable": "$.missing", "IsPresent": True}},
                            ],
                            "Next": "Pause",
                        },
                    ],
                },
                "Pause": {"Type": "Wait", "SecondsPath": "$.seed.n", "Next": "Done"},
                "Done": {"Type": "Succeed", "OutputPath": "$.seed"},
                "Nope": {"Type": "Fail", "Error": "Wrong", "Cause": "branch"},
            },
        },
    )
    arn = (
        await sfn.start_execution(stateMachineArn=machine, input='{"min": 3, "label": "order-??"}')
    )["executionArn"]
    described = await wait_closed(sfn, arn)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"n": 3, "when": "2024-01-01T00:00:00Z"}
    assert await event_types(sfn, arn) == [
        "ExecutionStarted",
        "PassStateEntered",
        "PassStateExited",
        "ChoiceStateEntered",
        "ChoiceStateExited",
        "WaitStateEntered",
        "WaitStateExited",
        "SucceedStateEntered",
        "SucceedStateExited",
        "ExecutionSucceeded",
    ]
    history = await events(sfn, arn)
    waited = history[6]["timestamp"] - history[5]["timestamp"]
    # 3 s of service time at 100x on the endpoint's clock: at least 0.03 s, and short of the
    # 3 s that an unscaled Wait would take.
    assert 0.03 - 0.002 <= waited.total_seconds() < 3


async def test_choice_default_and_fail_paths(sfn: Any) -> None:
    machine = await create_machine(
        sfn,
        {
            "StartAt": "Route",
            "States": {
                "Route": {
                    "Type": "Choice",
                    "Default": "Broken",
                    "Choices": [{"Variable": "$.ok", "BooleanEquals": True, "Next": "Fine"}],
                },
                "Fine": {"Type": "Succeed"},
                "Broken": {"Type": "Fail", "ErrorPath": "$.code", "CausePath": "$.why"},
            },
        },
    )
    arn = (
        await sfn.start_execution(
            stateMachineArn=machine, input='{"ok": false, "code": "E42", "why": "no"}'
        )
    )["executionArn"]
    described = await wait_closed(sfn, arn)
    assert (described["status"], described["error"], described["cause"]) == ("FAILED", "E42", "no")
    assert (await event_types(sfn, arn))[-2:] == ["FailStateEntered", "ExecutionFailed"]


async def test_no_choice_matched(sfn: Any) -> None:
    machine = await create_machine(
        sfn,
        {
            "StartAt": "Route",
            "States": {
                "Route": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.x", "StringEquals": "y", "Next": "End"}],
                },
                "End": {"Type": "Succeed"},
            },
        },
    )
    arn = (await sfn.start_execution(stateMachineArn=machine, input='{"x": "z"}'))["executionArn"]
    assert (await wait_closed(sfn, arn))["error"] == "States.NoChoiceMatched"


async def test_missing_input_path_is_a_runtime_error(sfn: Any) -> None:
    activity = await _activity(sfn)
    machine = await create_machine(
        sfn,
        {
            "StartAt": "Work",
            "States": {
                "Work": {
                    "Type": "Task",
                    "Resource": activity,
                    "End": True,
                    "Parameters": {"x.$": "$.nope"},
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Work"}],
                }
            },
        },
    )
    arn = (await sfn.start_execution(stateMachineArn=machine, input='{"a": 1}'))["executionArn"]
    described = await wait_closed(sfn, arn)
    # States.Runtime is terminal: not even States.ALL catches it.
    assert described["error"] == "States.Runtime"
    assert described["cause"] == (
        "An error occurred while executing the state 'Work' (entered at the event id #2). "
        "The JSONPath '$.nope' specified for the field 'x.$' could not be found in the input "
        "'{\"a\":1}'"
    )


async def test_deleted_activity_fails_the_execution(sfn: Any) -> None:
    activity = await _activity(sfn, "removed")
    machine = await create_machine(
        sfn,
        {
            "StartAt": "ActivityTask",
            "States": {"ActivityTask": {"Type": "Task", "Resource": activity, "End": True}},
        },
    )
    await sfn.delete_activity(activityArn=activity)
    arn = (await sfn.start_execution(stateMachineArn=machine))["executionArn"]
    described = await wait_closed(sfn, arn)
    assert described["error"] == "States.Runtime"
    assert described["cause"] == (
        "An error occurred while executing the state 'ActivityTask' (entered at the event id #2)."
        f" The activity {activity} does not exist."
    )
    assert await event_types(sfn, arn) == [
        "ExecutionStarted",
        "TaskStateEntered",
        "ExecutionFailed",
    ]


async def test_stop_execution_closes_the_running_task(sfn: Any) -> None:
    activity = await _activity(sfn)
    machine = await create_machine(
        sfn,
        {
            "StartAt": "Work",
            "States": {"Work": {"Type": "Task", "Resource": activity, "End": True}},
        },
    )
    arn = (await sfn.start_execution(stateMachineArn=machine))["executionArn"]
    token = (await sfn.get_activity_task(activityArn=activity))["taskToken"]
    stopped = await sfn.stop_execution(executionArn=arn, error="Operator", cause="not needed")

    described = await sfn.describe_execution(executionArn=arn)
    assert (described["status"], described["stopDate"]) == ("ABORTED", stopped["stopDate"])
    assert (await events(sfn, arn))[-1]["executionAbortedEventDetails"] == {
        "error": "Operator",
        "cause": "not needed",
    }
    for call in (
        sfn.send_task_heartbeat(taskToken=token),
        sfn.send_task_success(taskToken=token, output="{}"),
    ):
        with pytest.raises(ClientError) as caught:
            await call
        assert code_of(caught.value) == "TaskTimedOut"


async def test_stopped_execution_leaves_the_queue(sfn: Any) -> None:
    activity = await _activity(sfn)
    machine = await create_machine(
        sfn,
        {
            "StartAt": "Work",
            "States": {"Work": {"Type": "Task", "Resource": activity, "End": True}},
        },
    )
    first = (await sfn.start_execution(stateMachineArn=machine, input='{"n": 1}'))["executionArn"]
    await sfn.start_execution(stateMachineArn=machine, input='{"n": 2}')
    await sfn.stop_execution(executionArn=first)
    task = await sfn.get_activity_task(activityArn=activity)
    assert json.loads(task["input"]) == {"n": 2}


async def test_update_and_delete_spare_running_executions(sfn: Any) -> None:
    activity = await _activity(sfn)
    machine = await create_machine(
        sfn,
        {
            "StartAt": "Work",
            "States": {"Work": {"Type": "Task", "Resource": activity, "End": True}},
        },
    )
    arn = (await sfn.start_execution(stateMachineArn=machine, input='{"v": 1}'))["executionArn"]
    await sfn.update_state_machine(
        stateMachineArn=machine,
        definition=json.dumps(
            {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "new", "End": True}}}
        ),
    )
    await sfn.delete_state_machine(stateMachineArn=machine)
    assert (await sfn.describe_state_machine(stateMachineArn=machine))["status"] == "DELETING"
    with pytest.raises(ClientError) as caught:
        await sfn.start_execution(stateMachineArn=machine)
    assert code_of(caught.value) == "StateMachineDeleting"

    task = await sfn.get_activity_task(activityArn=activity)
    await sfn.send_task_success(taskToken=task["taskToken"], output='{"old": "definition"}')
    assert json.loads((await wait_closed(sfn, arn))["output"]) == {"old": "definition"}
    with pytest.raises(ClientError) as caught:
        await sfn.describe_state_machine(stateMachineArn=machine)
    assert code_of(caught.value) == "StateMachineDoesNotExist"
    assert (await sfn.describe_execution(executionArn=arn))["status"] == "SUCCEEDED"


async def test_endless_loop_stops_at_the_history_limit(sfn: Any) -> None:
    machine = await create_machine(
        sfn,
        {
            "StartAt": "Spin",
            "States": {
                "Spin": {"Type": "Pass", "Next": "Again"},
                "Again": {
                    "Type": "Choice",
                    "Default": "Spin",
                    "Choices": [{"Variable": "$.stop", "IsPresent": True, "Next": "Done"}],
                },
                "Done": {"Type": "Succeed"},
            },
        },
    )
    arn = (await sfn.start_execution(stateMachineArn=machine))["executionArn"]
    # Other calls are still served while it spins.
    assert (await sfn.list_activities())["activities"] == []
    described = await wait_closed(sfn, arn, seconds=30)
    assert (described["status"], described["error"]) == ("FAILED", "States.Runtime")
    page = await sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=1)
    assert 24_990 < page["events"][0]["id"] <= 25_000


async def test_clocks_and_waits_read_from_the_input(sfn: Any) -> None:
    activity = await _activity(sfn)
    machine = await create_machine(
        sfn,
        {
            "StartAt": "Until",
            "States": {
                "Until": {"Type": "Wait", "TimestampPath": "$.until", "Next": "Fixed"},
                "Fixed": {"Type": "Wait", "Timestamp": "2000-01-01T00:00:00Z", "Next": "Work"},
                "Work": {
                    "Type": "Task",
                    "Resource": activity,
                    "End": True,
                    "TimeoutSecondsPath": "$.limits.total",
                    "HeartbeatSecondsPath": "$.limits.beat",
                },
            },
        },
    )
    payload = {"until": "2000-01-01T00:00:00Z", "limits": {"total": 300, "beat": 60}}
    arn = (await sfn.start_execution(stateMachineArn=machine, input=json.dumps(payload)))[
        "executionArn"
    ]
    task = await sfn.get_activity_task(activityArn=activity)
    await sfn.send_task_success(taskToken=task["taskToken"], output="{}")
    assert (await wait_closed(sfn, arn))["status"] == "SUCCEEDED"
    scheduled = next(e for e in await events(sfn, arn) if e["type"] == "ActivityScheduled")
    details = scheduled["activityScheduledEventDetails"]
    assert (details["timeoutInSeconds"], details["heartbeatInSeconds"]) == (300, 60)


async def test_bad_clock_value_is_a_runtime_error(sfn: Any) -> None:
    activity = await _activity(sfn)
    machine = await create_machine(
        sfn,
        {
            "StartAt": "Work",
            "States": {
                "Work": {
                    "Type": "Task",
                    "Resource": activity,
                    "End": True,
                    "TimeoutSecondsPath": "$.t",
                }
            },
        },
    )
    arn = (await sfn.start_execution(stateMachineArn=machine, input='{"t": "soon"}'))[
        "executionArn"
    ]
    described = await wait_closed(sfn, arn)
    assert described["error"] == "States.Runtime"
    assert "must be a positive integer" in described["cause"]
