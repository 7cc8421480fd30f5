"""Intrinsic functions in payload templates, and workflow variables (Assign)."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError
from emulator_support import code_of, create_machine, events, run_machine, wait_closed

pytestmark = pytest.mark.emulator_options(time_scale=100.0)


async def _evaluate(sfn: Any, expressions: dict[str, str], payload: Any) -> dict[str, Any]:
    parameters = {f"{name}.$": text for name, text in expressions.items()}
    definition = {
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Parameters": parameters, "End": True}},
    }
    described, _ = await run_machine(sfn, definition, payload)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    return dict(json.loads(described["output"]))


async def test_every_intrinsic_function(sfn: Any) -> None:
    payload = {
        "name": "Ada",
        "n": 3,
        "list": [1, 2, 2, 3, {"a": 1}, {"a": 1}],
        "obj": {"a": 1, "b": [1, 2]},
        "other": {"b": 3, "c": 4},
        "json": '{"k": [1, "x"]}',
        "csv": "a,b;;c",
    }
    out = await _evaluate(
        sfn,
        {
            "format": "States.Format('Hello {}, you are {} \\{literal\\}', $.name, $.n)",
            "to_json": "States.StringToJson($.json)",
            "to_string": "States.JsonToString($.obj)",
            "array": "States.Array('a', 1, true, null, $.n)",
            "partition": "States.ArrayPartition(States.ArrayRange(1, 5, 1), 2)",
            "contains": "States.ArrayContains($.list, 3)",
            "range": "States.ArrayRange(10, 0, -5)",
            "item": "States.ArrayGetItem($.list, 4)",
            "length": "States.ArrayLength($.list)",
            "unique": "States.ArrayUnique($.list)",
            "b64": "States.Base64Encode($.name)",
            "unb64": "States.Base64Decode('QWRh')",
            "hash": "States.Hash($.name, 'SHA-256')",
            "md5": "States.Hash($.name, 'MD5')",
            "merge": "States.JsonMerge($.obj, $.other, false)",
            "random": "States.MathRandom(5, 7)",
            "seeded": "States.MathRandom(0, 1000, 42)",
            "add": "States.MathAdd($.n, -5)",
            "split": "States.StringSplit($.csv, ',;')",
            "uuid": "States.UUID()",
            "nested": "States.Format('{}', States.ArrayLength(States.Array(1, 2)))",
            "context": "States.Format('state {}', $$.State.Name)",
        },
        payload,
    )
    assert out["format"] == "Hello Ada, you are 3 {literal}"
    assert out["to_json"] == {"k": [1, "x"]}
    assert out["to_string"] == '{"a":1,"b":[1,2]}'
    assert out["array"] == ["a", 1, True, None, 3]
    assert out["partition"] == [[1, 2], [3, 4], [5]]
    assert out["contains"] is True
    assert out["range"] == [10, 5, 0]
    assert out["item"] == {"a": 1}
    assert out["length"] == 6
    assert out["unique"] == [1, 2, 3, {"a": 1}]
    assert out["b64"] == base64.b64encode(b"Ada").decode()
    assert out["unb64"] == "Ada"
    assert out["hash"] == hashlib.sha256(b"Ada").hexdigest()
    assert out["md5"] == hashlib.md5(b"Ada").hexdigest()
    assert out["merge"] == {"a": 1, "b": 3, "c": 4}
    assert out["random"] in (5, 6)
    assert 0 <= out["seeded"] < 1000
    assert out["add"] == -2
    assert out["split"] == ["a", "b", "c"]
    assert uuid.UUID(out["uuid"]).version == 4
    assert out["nested"] == "2"
    assert out["context"] == "state P"


async def test_a_seeded_random_is_repeatable(sfn: Any) -> None:
    first = await _evaluate(sfn, {"r": "States.MathRandom(0, 1000000, 7)"}, {})
    second = await _evaluate(sfn, {"r": "States.MathRandom(0, 1000000, 7)"}, {})
    assert first == second


async def test_a_bad_argument_is_an_intrinsic_failure_that_catch_sees(sfn: Any) -> None:
    activity = (await sfn.create_activity(name="work"))["activityArn"]
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": activity,
                "Parameters": {"x.$": "States.ArrayGetItem($.list, 9)"},
                "Catch": [
                    {"ErrorEquals": ["States.IntrinsicFailure"], "ResultPath": "$.e", "Next": "D"}
                ],
                "End": True,
            },
            "D": {"Type": "Pass", "End": True},
        },
    }
    described, _ = await run_machine(sfn, definition, {"list": [1]})
    output = json.loads(described["output"])
    assert output["e"]["Error"] == "States.IntrinsicFailure"
    assert "out of range" in output["e"]["Cause"]


async def test_an_uncaught_intrinsic_failure_fails_the_execution(sfn: Any) -> None:
    definition = {
        "StartAt": "P",
        "States": {
            "P": {"Type": "Pass", "Parameters": {"x.$": "States.StringToJson($.s)"}, "End": True}
        },
    }
    described, _ = await run_machine(sfn, definition, {"s": "{not json"})
    assert described["error"] == "States.IntrinsicFailure"
    assert "An error occurred while executing the state 'P'" in described["cause"]


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("States.Nope()", "Unsupported intrinsic function 'States.Nope'"),
        ("States.MathAdd(1)", "States.MathAdd takes 2 arguments, got 1"),
        ("States.Format('x'", "Expected ',' or ')'"),
    ],
)
async def test_malformed_calls_are_refused_at_create(
    sfn: Any, expression: str, problem: str
) -> None:
    definition = {
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Parameters": {"x.$": expression}, "End": True}},
    }
    with pytest.raises(ClientError) as caught:
        await create_machine(sfn, definition)
    assert code_of(caught.value) == "InvalidDefinition"
    assert problem in caught.value.response["Error"]["Message"]


async def test_variables_are_assigned_and_read_by_later_states(sfn: Any) -> None:
    definition = {
        "StartAt": "Remember",
        "States": {
            "Remember": {
                "Type": "Pass",
                "Result": {"total": 5},
                "Assign": {"total.$": "$.total", "label": "fixed", "copy.$": "$$.State.Name"},
                "ResultPath": None,
                "Next": "Decide",
            },
            "Decide": {
                "Type": "Choice",
                "Choices": [
                    {
                        "Variable": "$total",
                        "NumericGreaterThan": 3,
                        "Assign": {"big": True},
                        "Next": "Use",
                    }
                ],
                "Default": "Use",
            },
            "Use": {
                "Type": "Pass",
                "Parameters": {
                    "total.$": "$total",
                    "label.$": "$label",
                    "copy.$": "$copy",
                    "big.$": "$big",
                    "sum.$": "States.MathAdd($total, 1)",
                },
                "End": True,
            },
        },
    }
    described, arn = await run_machine(sfn, definition, {"in": 1})
    assert json.loads(described["output"]) == {
        "total": 5,
        "label": "fixed",
        "copy": "Remember",
        "big": True,
        "sum": 6,
    }
    exited = [e["stateExitedEventDetails"] for e in await events(sfn, arn) if "Exited" in e["type"]]
    assert exited[0]["assignedVariables"] == {
        "total": "5",
        "label": '"fixed"',
        "copy": '"Remember"',
    }
    assert exited[0]["assignedVariablesDetails"] == {"truncated": False}
    assert exited[1]["assignedVariables"] == {"big": "true"}
    assert "assignedVariables" not in exited[2]


async def test_branches_read_outer_variables_but_keep_their_own(sfn: Any) -> None:
    definition = {
        "StartAt": "Set",
        "States": {
            "Set": {"Type": "Pass", "Assign": {"outer": 1}, "Next": "Fan"},
            "Fan": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "Inner",
                        "States": {
                            "Inner": {
                                "Type": "Pass",
                                "Assign": {"inner": 2},
                                "Next": "Read",
                            },
                            "Read": {
                                "Type": "Pass",
                                "Parameters": {"o.$": "$outer", "i.$": "$inner"},
                                "End": True,
                            },
                        },
                    }
                ],
                "Next": "After",
            },
            "After": {"Type": "Pass", "Parameters": {"o.$": "$outer"}, "End": True},
        },
    }
    described, _ = await run_machine(sfn, definition, {})
    assert json.loads(described["output"]) == {"o": 1}
    inner_definition = {
        **definition,
        "States": {
            **definition["States"],
            "After": {"Type": "Pass", "Parameters": {"i.$": "$inner"}, "End": True},
        },
    }
    failed, _ = await run_machine(sfn, {**inner_definition}, {})
    assert failed["error"] == "States.Runtime"


async def test_a_catcher_assigns_from_the_error_output(sfn: Any) -> None:
    activity = (await sfn.create_activity(name="work"))["activityArn"]
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": activity,
                "Catch": [
                    {"ErrorEquals": ["States.ALL"], "Assign": {"why.$": "$.Error"}, "Next": "D"}
                ],
                "End": True,
            },
            "D": {"Type": "Pass", "Parameters": {"why.$": "$why"}, "End": True},
        },
    }
    machine = await create_machine(sfn, definition)
    arn = (await sfn.start_execution(stateMachineArn=machine))["executionArn"]
    task = await sfn.get_activity_task(activityArn=activity)
    await sfn.send_task_failure(taskToken=task["taskToken"], error="Nope")
    assert json.loads((await wait_closed(sfn, arn))["output"]) == {"why": "Nope"}
    assert [e["type"] for e in await events(sfn, arn)][-1] == "ExecutionSucceeded"


async def test_result_path_cannot_name_a_variable(sfn: Any) -> None:
    definition = {
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "ResultPath": "$v", "End": True}},
    }
    with pytest.raises(ClientError) as caught:
        await create_machine(sfn, definition)
    assert "ResultPath cannot write to a variable" in caught.value.response["Error"]["Message"]
