"""Parallel and inline Map states: results, concurrency, failures and their history events."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from emulator_support import (
    code_of,
    create_machine,
    event_types,
    events,
    run_machine,
    until,
    wait_closed,
)

from fleet.emulator import Emulator

pytestmark = pytest.mark.emulator_options(time_scale=100.0)


def _pass(**fields: Any) -> dict[str, Any]:
    return {"Type": "Pass", "End": True, **fields}


async def test_parallel_runs_every_branch_on_the_same_input(sfn: Any) -> None:
    definition = {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "A", "States": {"A": _pass(Parameters={"a.$": "$.x"})}},
                    {
                        "StartAt": "B1",
                        "States": {
                            "B1": {"Type": "Pass", "Result": 2, "ResultPath": "$.y", "Next": "B2"},
                            "B2": _pass(OutputPath="$.y"),
                        },
                    },
                ],
                "ResultSelector": {"first.$": "$[0].a", "second.$": "$[1]"},
                "ResultPath": "$.both",
                "End": True,
            }
        },
    }
    described, arn = await run_machine(sfn, definition, {"x": 1})
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"x": 1, "both": {"first": 1, "second": 2}}
    types = await event_types(sfn, arn)
    assert types[:3] == ["ExecutionStarted", "ParallelStateEntered", "ParallelStateStarted"]
    assert types[-3:] == ["ParallelStateSucceeded", "ParallelStateExited", "ExecutionSucceeded"]
    assert types.count("PassStateEntered") == 3


async def test_a_failing_branch_fails_the_parallel_state_and_can_be_caught(sfn: Any) -> None:
    definition = {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "Ok", "States": {"Ok": _pass()}},
                    {
                        "StartAt": "Boom",
                        "States": {"Boom": {"Type": "Fail", "Error": "Boom", "Cause": "why"}},
                    },
                ],
                "Catch": [{"ErrorEquals": ["Boom"], "ResultPath": "$.error", "Next": "After"}],
                "End": True,
            },
            "After": _pass(),
        },
    }
    described, arn = await run_machine(sfn, definition, {})
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"error": {"Error": "Boom", "Cause": "why"}}
    types = await event_types(sfn, arn)
    assert "ParallelStateFailed" in types
    assert types[-2:] == ["PassStateExited", "ExecutionSucceeded"]


async def test_parallel_branches_wait_for_their_activities(sfn: Any) -> None:
    activity = (await sfn.create_activity(name="work"))["activityArn"]
    task = {"Type": "Task", "Resource": activity, "End": True}
    definition = {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "T1", "States": {"T1": {**task, "Parameters": {"n": 1}}}},
                    {"StartAt": "T2", "States": {"T2": {**task, "Parameters": {"n": 2}}}},
                ],
                "End": True,
            }
        },
    }
    machine = await create_machine(sfn, definition)
    arn = (await sfn.start_execution(stateMachineArn=machine))["executionArn"]
    for _ in range(2):
        got = await sfn.get_activity_task(activityArn=activity)
        number = json.loads(got["input"])["n"]
        await sfn.send_task_success(taskToken=got["taskToken"], output=json.dumps(number * 10))
    described = await wait_closed(sfn, arn)
    assert json.loads(described["output"]) == [10, 20]


async def test_map_runs_the_processor_per_item_in_order(sfn: Any) -> None:
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemSelector": {
                    "index.$": "$$.Map.Item.Index",
                    "value.$": "$$.Map.Item.Value",
                    "tag.$": "$.tag",
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Double",
                    "States": {
                        "Double": _pass(
                            Parameters={
                                "i.$": "$.index",
                                "v.$": "States.MathAdd($.value, $.value)",
                                "t.$": "$.tag",
                            }
                        )
                    },
                },
                "ResultPath": "$.doubled",
                "End": True,
            }
        },
    }
    described, arn = await run_machine(sfn, definition, {"items": [1, 2, 3], "tag": "x"})
    assert json.loads(described["output"])["doubled"] == [
        {"i": 0, "v": 2, "t": "x"},
        {"i": 1, "v": 4, "t": "x"},
        {"i": 2, "v": 6, "t": "x"},
    ]
    history = await events(sfn, arn)
    started = [e for e in history if e["type"] == "MapStateStarted"]
    assert started[0]["mapStateStartedEventDetails"] == {"length": 3}
    iterations = [
        e["mapIterationSucceededEventDetails"]
        for e in history
        if e["type"] == "MapIterationSucceeded"
    ]
    assert sorted(i["index"] for i in iterations) == [0, 1, 2]
    assert {i["name"] for i in iterations} == {"Each"}
    assert [e["type"] for e in history][-3:] == [
        "MapStateSucceeded",
        "MapStateExited",
        "ExecutionSucceeded",
    ]


async def test_an_empty_map_succeeds_with_an_empty_list(sfn: Any) -> None:
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "Iterator": {"StartAt": "P", "States": {"P": _pass()}},
                "End": True,
            }
        },
    }
    described, _ = await run_machine(sfn, definition, [])
    assert json.loads(described["output"]) == []


async def test_max_concurrency_holds_back_iterations(sfn: Any, emulator: Emulator) -> None:
    activity = (await sfn.create_activity(name="work"))["activityArn"]
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "MaxConcurrency": 1,
                "ItemProcessor": {
                    "StartAt": "T",
                    "States": {"T": {"Type": "Task", "Resource": activity, "End": True}},
                },
                "End": True,
            }
        },
    }
    machine = await create_machine(sfn, definition)
    arn = (await sfn.start_execution(stateMachineArn=machine, input="[1, 2, 3]"))["executionArn"]
    seen = []
    for _ in range(3):
        await until(lambda: emulator.snapshot()["tasks_waiting"] == 1)
        # One iteration at a time: never more than one task scheduled.
        assert emulator.snapshot()["tasks_waiting"] == 1
        got = await sfn.get_activity_task(activityArn=activity)
        seen.append(json.loads(got["input"]))
        await sfn.send_task_success(taskToken=got["taskToken"], output=got["input"])
    assert seen == [1, 2, 3]
    assert json.loads((await wait_closed(sfn, arn))["output"]) == [1, 2, 3]


def _failing_map(**fields: Any) -> dict[str, Any]:
    return {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "Check",
                    "States": {
                        "Check": {
                            "Type": "Choice",
                            "Choices": [{"Variable": "$", "NumericEquals": 0, "Next": "Bad"}],
                            "Default": "Good",
                        },
                        "Bad": {"Type": "Fail", "Error": "Zero"},
                        "Good": _pass(),
                    },
                },
                "End": True,
                **fields,
            }
        },
    }


async def test_a_failed_iteration_fails_the_map(sfn: Any) -> None:
    described, arn = await run_machine(sfn, _failing_map(), [1, 0, 2])
    assert (described["status"], described["error"]) == ("FAILED", "Zero")
    types = await event_types(sfn, arn)
    assert "MapIterationFailed" in types
    assert "MapStateFailed" in types


async def test_tolerated_failures_let_the_map_succeed(sfn: Any) -> None:
    described, _ = await run_machine(sfn, _failing_map(ToleratedFailureCount=1), [1, 0, 2])
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == [1, {"Error": "Zero"}, 2]


async def test_beyond_the_tolerated_percentage_the_map_fails(sfn: Any) -> None:
    described, _ = await run_machine(sfn, _failing_map(ToleratedFailurePercentage=30), [0, 0, 2])
    assert (described["status"], described["error"]) == (
        "FAILED",
        "States.ExceedToleratedFailureThreshold",
    )


async def test_limits_can_come_from_the_input(sfn: Any) -> None:
    fields = {
        "ItemsPath": "$.items",
        "ToleratedFailureCountPath": "$.tolerate",
        "MaxConcurrencyPath": "$.at_once",
    }
    payload = {"items": [1, 0, 2], "tolerate": 1, "at_once": 2}
    described, _ = await run_machine(sfn, _failing_map(**fields), payload)
    assert json.loads(described["output"]) == [1, {"Error": "Zero"}, 2]
    described, _ = await run_machine(sfn, _failing_map(**fields), {**payload, "tolerate": -1})
    assert described["error"] == "States.Runtime"
    assert "$.tolerate" in described["cause"]


async def test_items_path_must_select_an_array(sfn: Any) -> None:
    described, _ = await run_machine(sfn, _failing_map(ItemsPath="$.x"), {"x": 5})
    assert described["error"] == "States.Runtime"
    assert "must select an array" in described["cause"]


@pytest.mark.parametrize(
    ("processor", "field"),
    [
        ({"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}}, "Mode"),
        ({"ProcessorConfig": {"Mode": "INLINE"}}, "ItemReader"),
    ],
)
async def test_distributed_map_is_refused_clearly(
    sfn: Any, processor: dict[str, Any], field: str
) -> None:
    state: dict[str, Any] = {
        "Type": "Map",
        "ItemProcessor": {**processor, "StartAt": "P", "States": {"P": _pass()}},
        "End": True,
    }
    if field == "ItemReader":
        state["ItemReader"] = {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {}}
    with pytest.raises(ClientError) as caught:
        await create_machine(sfn, {"StartAt": "M", "States": {"M": state}})
    assert code_of(caught.value) == "InvalidDefinition"
    message = caught.value.response["Error"]["Message"]
    assert "DISTRIBUTED" in message
    assert "not supported by the local endpoint" in message


async def test_stopping_an_execution_closes_every_iteration_task(
    sfn: Any, emulator: Emulator
) -> None:
    activity = (await sfn.create_activity(name="work"))["activityArn"]
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "T",
                    "States": {"T": {"Type": "Task", "Resource": activity, "End": True}},
                },
                "End": True,
            }
        },
    }
    machine = await create_machine(sfn, definition)
    arn = (await sfn.start_execution(stateMachineArn=machine, input="[1, 2]"))["executionArn"]
    tasks = [await sfn.get_activity_task(activityArn=activity) for _ in range(2)]
    await sfn.stop_execution(executionArn=arn, error="Stop")
    for task in tasks:
        with pytest.raises(ClientError) as caught:
            await sfn.send_task_success(taskToken=task["taskToken"], output="1")
        assert code_of(caught.value) == "TaskTimedOut"
    assert emulator.snapshot()["tasks_open"] == 0
    assert (await wait_closed(sfn, arn))["status"] == "ABORTED"
