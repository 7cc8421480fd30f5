"""Definitions outside the supported subset, or invalid, are refused with InvalidDefinition."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from emulator_support import ROLE, code_of

ACTIVITY = "arn:aws:states:us-east-1:123456789012:activity:work"
PREFIX = "Invalid State Machine Definition: '"


def _task(**fields: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": ACTIVITY, "End": True, **fields}


async def _refused(sfn: Any, definition: Any) -> str:
    text = definition if isinstance(definition, str) else json.dumps(definition)
    with pytest.raises(ClientError) as caught:
        await sfn.create_state_machine(name="bad", definition=text, roleArn=ROLE)
    assert code_of(caught.value) == "InvalidDefinition"
    message = str(caught.value.response["Error"]["Message"])
    assert message.startswith(PREFIX)
    assert message.endswith("'")
    return message[len(PREFIX) : -1]


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        (
            {"StartAt": "Foo", "States": {"Foo": {"Type": "Map", "End": True}}},
            "SCHEMA_VALIDATION_FAILED: These fields are required: [ItemProcessor] at /States/Foo",
        ),
        (
            {"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [], "End": True}}},
            "SCHEMA_VALIDATION_FAILED: These fields are required: [Branches] (a non-empty array) "
            "at /States/P",
        ),
        (
            {"StartAt": "T", "States": {"T": _task(ItemsPath="$.items")}},
            "SCHEMA_VALIDATION_FAILED: The field 'ItemsPath' is not supported by Step Functions "
            "at /States/T",
        ),
        (
            {"StartAt": "T", "States": {"T": _task(Credentials={"RoleArn": ROLE})}},
            "SCHEMA_VALIDATION_FAILED: Unsupported field 'Credentials' in a Task state at "
            "/States/T",
        ),
        (
            {"StartAt": "T", "States": {"T": _task(Colour="red")}},
            "SCHEMA_VALIDATION_FAILED: The field 'Colour' is not supported by Step Functions at "
            "/States/T",
        ),
        (
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}},
            "MISSING_TRANSITION_TARGET: Missing 'Next' target: B at /States/A/Next",
        ),
        (
            {"StartAt": "Nope", "States": {"A": {"Type": "Pass", "End": True}}},
            "MISSING_TRANSITION_TARGET: Missing 'StartAt' target: Nope at /StartAt, "
            'MISSING_TRANSITION_TARGET: State "A" is not reachable. at /States/A',
        ),
        (
            {
                "StartAt": "A",
                "States": {"A": {"Type": "Pass", "End": True}, "B": {"Type": "Pass", "End": True}},
            },
            'MISSING_TRANSITION_TARGET: State "B" is not reachable. at /States/B',
        ),
        (
            {"StartAt": "A", "States": {"A": {"Type": "Pass"}}},
            'SCHEMA_VALIDATION_FAILED: These fields are required: [Next] (or "End": true) at '
            "/States/A",
        ),
        (
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A", "End": True}}},
            "SCHEMA_VALIDATION_FAILED: The fields 'Next' and 'End' are mutually exclusive at "
            "/States/A",
        ),
        (
            {"StartAt": "T", "States": {"T": _task(TimeoutSeconds=10, HeartbeatSeconds=10)}},
            "SCHEMA_VALIDATION_FAILED: The value of 'HeartbeatSeconds' must be less than the "
            "value of 'TimeoutSeconds' at /States/T/HeartbeatSeconds",
        ),
        (
            {"StartAt": "T", "States": {"T": _task(TimeoutSeconds=0)}},
            "SCHEMA_VALIDATION_FAILED: The value must be an integer between 1 and 99999999 at "
            "/States/T/TimeoutSeconds",
        ),
        (
            {
                "StartAt": "T",
                "States": {"T": _task(Resource="arn:aws:states:us-east-1:123:activity:f")},
            },
            "SCHEMA_VALIDATION_FAILED: Value is not a valid resource ARN at /States/T/Resource",
        ),
        (
            {"StartAt": "T", "States": {"T": _task(Resource="work")}},
            "SCHEMA_VALIDATION_FAILED: Value is not a valid resource ARN at /States/T/Resource",
        ),
        (
            {
                "StartAt": "T",
                "States": {
                    "T": _task(Retry=[{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}])
                },
            },
            "SCHEMA_VALIDATION_FAILED: States.ALL must appear only in the last retrier or "
            "catcher at /States/T/Retry/0/ErrorEquals",
        ),
        (
            {
                "StartAt": "T",
                "States": {"T": _task(Catch=[{"ErrorEquals": ["States.ALL", "X"], "Next": "T"}])},
            },
            "SCHEMA_VALIDATION_FAILED: States.ALL must appear alone in ErrorEquals at "
            "/States/T/Catch/0/ErrorEquals",
        ),
        (
            {"StartAt": "T", "States": {"T": _task(Catch=[{"ErrorEquals": ["X"], "Next": "Z"}])}},
            "MISSING_TRANSITION_TARGET: Missing 'Next' target: Z at /States/T/Catch/0/Next",
        ),
        (
            {
                "StartAt": "T",
                "States": {"T": _task(Parameters={"a.$": "States.Nope('{}', $.x)"})},
            },
            "SCHEMA_VALIDATION_FAILED: Unsupported intrinsic function 'States.Nope' at "
            "/States/T/Parameters",
        ),
        (
            {"StartAt": "T", "States": {"T": _task(ResultPath="$..deep")}},
            "SCHEMA_VALIDATION_FAILED: The path '$..deep' must be a reference path (no "
            "wildcards, filters, slices, unions or deep scans) at /States/T/ResultPath",
        ),
        (
            {
                "StartAt": "C",
                "States": {
                    "C": {
                        "Type": "Choice",
                        "Choices": [{"Variable": "$.x", "StringEquals": 5, "Next": "C"}],
                    }
                },
            },
            "SCHEMA_VALIDATION_FAILED: The value of 'StringEquals' has the wrong type at "
            "/States/C/Choices/0/StringEquals",
        ),
        (
            {"StartAt": "W", "States": {"W": {"Type": "Wait", "End": True}}},
            "SCHEMA_VALIDATION_FAILED: Exactly one of Seconds, SecondsPath, Timestamp or "
            "TimestampPath at /States/W",
        ),
        (
            {
                "StartAt": "A",
                "QueryLanguage": "XPath",
                "States": {"A": {"Type": "Pass", "End": True}},
            },
            "SCHEMA_VALIDATION_FAILED: The value must be JSONPath or JSONata at /QueryLanguage",
        ),
        (
            {
                "StartAt": "A",
                "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}},
            },
            "SCHEMA_VALIDATION_FAILED: No terminal state: the state machine can never end at "
            "/States",
        ),
        (
            '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}, '
            '"A": {"Type": "Pass", "End": true}}}',
            "DUPLICATE_STATE_NAME: Duplicate State name: A at /States",
        ),
    ],
)
async def test_refused(sfn: Any, definition: Any, expected: str) -> None:
    assert await _refused(sfn, definition) == expected


async def test_not_json(sfn: Any) -> None:
    assert (await _refused(sfn, "{nope")).startswith("INVALID_JSON_DESCRIPTION: ")


async def test_full_subset_is_accepted_and_described(sfn: Any) -> None:
    definition = {
        "Comment": "every supported state type",
        "StartAt": "Prepare",
        "TimeoutSeconds": 3600,
        "States": {
            "Prepare": {"Type": "Pass", "Result": {"n": 1}, "ResultPath": "$.p", "Next": "Work"},
            "Work": _task(
                End=None,
                Next="Route",
                TimeoutSeconds=60,
                HeartbeatSeconds=10,
                InputPath="$.p",
                Parameters={"n.$": "$.n", "when.$": "$$.State.EnteredTime"},
                ResultSelector={"r.$": "$"},
                ResultPath="$.out",
                OutputPath="$",
                Retry=[
                    {
                        "ErrorEquals": ["States.Timeout"],
                        "IntervalSeconds": 2,
                        "MaxAttempts": 2,
                        "BackoffRate": 1.5,
                        "MaxDelaySeconds": 5,
                        "JitterStrategy": "FULL",
                    }
                ],
                Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
            ),
            "Route": {
                "Type": "Choice",
                "Default": "Pause",
                "Choices": [
                    {
                        "And": [
                            {"Variable": "$.p.n", "NumericGreaterThan": 5},
                            {"Not": {"Variable": "$.p.s", "IsPresent": True}},
                        ],
                        "Next": "Done",
                    }
                ],
            },
            "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
            "Done": {"Type": "Succeed"},
            "Failed": {"Type": "Fail", "Error": "Broken", "Cause": "see history"},
        },
    }
    definition["States"]["Work"].pop("End")
    text = json.dumps(definition)
    arn = (await sfn.create_state_machine(name="all", definition=text, roleArn=ROLE))[
        "stateMachineArn"
    ]
    described = await sfn.describe_state_machine(stateMachineArn=arn)
    assert described["definition"] == text
    assert described["status"] == "ACTIVE"
    assert described["type"] == "STANDARD"
    assert described["roleArn"] == ROLE


async def test_update_validates_too(sfn: Any) -> None:
    good = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
    arn = (await sfn.create_state_machine(name="u", definition=good, roleArn=ROLE))[
        "stateMachineArn"
    ]
    with pytest.raises(ClientError) as caught:
        await sfn.update_state_machine(
            stateMachineArn=arn,
            definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Map", "End": True}}}),
        )
    assert code_of(caught.value) == "InvalidDefinition"
    assert (await sfn.describe_state_machine(stateMachineArn=arn))["definition"] == good
