"""Bad requests get AWS's error codes and messages (HTTP 400), never a 500 or a traceback."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from emulator_support import ROLE, code_of, machine_with_task, raw_call, until

from fleet.emulator import Emulator

TARGET = "AWSStepFunctions."


async def _error(call: Any, **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        await call(**params)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return code_of(caught.value), caught.value.response["Error"]["Message"]


async def test_garbage_token_is_invalid_token(sfn: Any) -> None:
    expected = ("InvalidToken", "Invalid Token: 'Invalid token'")
    assert await _error(sfn.send_task_success, taskToken="not-a-token", output="{}") == expected
    assert await _error(sfn.send_task_failure, taskToken="not-a-token") == expected
    assert await _error(sfn.send_task_heartbeat, taskToken="x" * 300) == expected


async def test_closed_task_token_is_task_timed_out(sfn: Any) -> None:
    activity, machine = await machine_with_task(sfn)
    await sfn.start_execution(stateMachineArn=machine)
    token = (await sfn.get_activity_task(activityArn=activity))["taskToken"]
    await sfn.send_task_success(taskToken=token, output="{}")

    expected = ("TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")
    assert await _error(sfn.send_task_success, taskToken=token, output="{}") == expected
    assert await _error(sfn.send_task_failure, taskToken=token, error="E") == expected
    assert await _error(sfn.send_task_heartbeat, taskToken=token) == expected


async def test_output_must_be_json_and_within_limits(sfn: Any) -> None:
    activity, machine = await machine_with_task(sfn)
    arn = (await sfn.start_execution(stateMachineArn=machine))["executionArn"]
    token = (await sfn.get_activity_task(activityArn=activity))["taskToken"]

    code, _ = await _error(sfn.send_task_success, taskToken=token, output="{not json")
    assert code == "InvalidOutput"
    code, message = await _error(
        sfn.send_task_success, taskToken=token, output=json.dumps("x" * 262_143)
    )
    assert (code, message) == (
        "ValidationException",
        "1 validation error detected: Value at 'output' failed to satisfy constraint: "
        "Member must have length less than or equal to 262144",
    )
    code, message = await _error(sfn.send_task_failure, taskToken=token, error="e" * 257)
    assert code == "ValidationException"
    assert "Value at 'error' failed to satisfy constraint" in message
    assert message.endswith("less than or equal to 256")
    code, message = await _error(sfn.send_task_failure, taskToken=token, cause="c" * 32_769)
    assert message.endswith(
        "Value at 'cause' failed to satisfy constraint: Member must have "
        "length less than or equal to 32768"
    )

    # Exactly at the limit is accepted, and counted in UTF-8 bytes.
    await sfn.send_task_success(
        taskToken=token, output=json.dumps("é" * 131_071, ensure_ascii=False)
    )
    assert (await sfn.describe_execution(executionArn=arn))["status"] == "SUCCEEDED"


async def test_missing_output_is_a_validation_error(emulator: Emulator) -> None:
    status, body = await raw_call(
        emulator.endpoint_url, TARGET + "SendTaskSuccess", b'{"taskToken": "abc"}'
    )
    assert status == 400
    assert body == {
        "__type": "com.amazon.coral.validate#ValidationException",
        "message": "1 validation error detected: Value at 'output' failed to satisfy "
        "constraint: Member must not be null",
    }


async def test_missing_and_too_long_members_are_listed_together(emulator: Emulator) -> None:
    status, body = await raw_call(
        emulator.endpoint_url, TARGET + "StartExecution", json.dumps({"name": "n" * 81}).encode()
    )
    assert status == 400
    assert body["message"] == (
        "2 validation errors detected: Value null at 'stateMachineArn' failed to satisfy "
        "constraint: Member must not be null; Value '" + "n" * 81 + "' at 'name' failed to "
        "satisfy constraint: Member must have length less than or equal to 80"
    )


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "Malformed JSON"),
        (b"[1, 2]", "Start of structure"),
        (b'{"name": 5}', "NUMBER_VALUE can not be converted to String"),
        (b'{"name": ["a"]}', "START_ARRAY can not be converted to String"),
    ],
)
async def test_malformed_bodies_are_serialization_errors(
    emulator: Emulator, body: bytes, fragment: str
) -> None:
    status, answer = await raw_call(emulator.endpoint_url, TARGET + "CreateActivity", body)
    assert status == 400
    assert answer["__type"] == "com.amazon.coral.service#SerializationException"
    assert fragment in answer["message"]


async def test_wrong_member_type_on_list_call(emulator: Emulator) -> None:
    status, answer = await raw_call(
        emulator.endpoint_url, TARGET + "ListActivities", b'{"maxResults": "ten"}'
    )
    assert (status, answer["__type"].split("#")[1]) == (400, "SerializationException")


@pytest.mark.parametrize("target", ["AWSStepFunctions.Frobnicate", "Other.CreateActivity", None])
async def test_unknown_operation(emulator: Emulator, target: str | None) -> None:
    status, answer = await raw_call(emulator.endpoint_url, target, b"{}")
    assert status == 400
    assert answer["__type"] == "com.amazon.coral.service#UnknownOperationException"


async def test_malformed_http_is_answered_and_closed(emulator: Emulator) -> None:
    status, answer = await raw_call(
        emulator.endpoint_url, None, b"", headers={"Content-Length": "x"}
    )
    assert status == 400
    assert answer["message"] == "Malformed HTTP request"


@pytest.mark.parametrize(
    ("arn", "message"),
    [
        ("not-an-arn", "Invalid Arn: 'Invalid ARN prefix: not-an-arn'"),
        (
            "arn:aws:states:us-east-1:123456789012:stateMachine:x",
            "Invalid Arn: 'Resource type not valid in this context: stateMachine'",
        ),
        ("arn:aws:states:us-east-1:1234:activity:x", "Invalid Arn: 'Invalid account id: 1234'"),
    ],
)
async def test_bad_activity_arns(sfn: Any, arn: str, message: str) -> None:
    assert await _error(sfn.describe_activity, activityArn=arn) == ("InvalidArn", message)
    assert await _error(sfn.get_activity_task, activityArn=arn) == ("InvalidArn", message)
    assert await _error(sfn.delete_activity, activityArn=arn) == ("InvalidArn", message)


async def test_missing_resources(sfn: Any) -> None:
    base = "arn:aws:states:us-east-1:123456789012"
    assert await _error(sfn.get_activity_task, activityArn=f"{base}:activity:nope") == (
        "ActivityDoesNotExist",
        f"Activity Does Not Exist: '{base}:activity:nope'",
    )
    assert await _error(sfn.describe_state_machine, stateMachineArn=f"{base}:stateMachine:no") == (
        "StateMachineDoesNotExist",
        f"State Machine Does Not Exist: '{base}:stateMachine:no'",
    )
    assert await _error(sfn.describe_execution, executionArn=f"{base}:execution:no:x") == (
        "ExecutionDoesNotExist",
        f"Execution Does Not Exist: '{base}:execution:no:x'",
    )
    code, _ = await _error(sfn.start_execution, stateMachineArn=f"{base}:stateMachine:no")
    assert code == "StateMachineDoesNotExist"
    code, _ = await _error(sfn.get_execution_history, executionArn=f"{base}:activity:x")
    assert code == "InvalidArn"


@pytest.mark.parametrize("name", ["has space", "a/b", "q?", "x" * 81, "tab\there", "emoji:colon"])
async def test_bad_names(sfn: Any, name: str) -> None:
    code, message = await _error(sfn.create_activity, name=name)
    if len(name) > 80:
        assert code == "ValidationException"
    else:
        assert (code, message) == ("InvalidName", f"Invalid Name: '{name}'")


async def test_bad_execution_names_and_input(sfn: Any) -> None:
    _, machine = await machine_with_task(sfn)
    assert (await _error(sfn.start_execution, stateMachineArn=machine, name="a b"))[0] == (
        "InvalidName"
    )
    code, message = await _error(sfn.start_execution, stateMachineArn=machine, input="{oops")
    assert code == "InvalidExecutionInput"
    assert message.startswith("Invalid State Machine Execution Input: '")


async def test_execution_names_are_idempotent_while_running(sfn: Any) -> None:
    activity, machine = await machine_with_task(sfn)
    first = await sfn.start_execution(stateMachineArn=machine, name="run", input='{"a":1}')
    again = await sfn.start_execution(stateMachineArn=machine, name="run", input='{"a":1}')
    assert again["executionArn"] == first["executionArn"]
    assert again["startDate"] == first["startDate"]
    code, message = await _error(
        sfn.start_execution, stateMachineArn=machine, name="run", input='{"a":2}'
    )
    assert (code, message) == (
        "ExecutionAlreadyExists",
        f"Execution Already Exists: '{first['executionArn']}'",
    )
    token = (await sfn.get_activity_task(activityArn=activity))["taskToken"]
    await sfn.send_task_success(taskToken=token, output="{}")
    code, _ = await _error(
        sfn.start_execution, stateMachineArn=machine, name="run", input='{"a":1}'
    )
    assert code == "ExecutionAlreadyExists"


async def test_create_is_idempotent_and_conflicts_are_reported(sfn: Any) -> None:
    first = await sfn.create_activity(name="same")
    again = await sfn.create_activity(name="same")
    assert again["activityArn"] == first["activityArn"]
    assert again["creationDate"] == first["creationDate"]
    await sfn.delete_activity(activityArn=first["activityArn"])
    await sfn.delete_activity(activityArn=first["activityArn"])  # idempotent
    code, _ = await _error(sfn.describe_activity, activityArn=first["activityArn"])
    assert code == "ActivityDoesNotExist"

    definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    arn = (await sfn.create_state_machine(name="sm", definition=definition, roleArn=ROLE))[
        "stateMachineArn"
    ]
    again_sm = await sfn.create_state_machine(name="sm", definition=definition, roleArn=ROLE)
    assert again_sm["stateMachineArn"] == arn
    other = definition.replace('"End": true', '"End": true, "Comment": "x"')
    code, message = await _error(
        sfn.create_state_machine, name="sm", definition=other, roleArn=ROLE
    )
    assert (code, message) == (
        "StateMachineAlreadyExists",
        f"State Machine Already Exists: '{arn}'",
    )
    code, _ = await _error(
        sfn.create_state_machine, name="s2", definition=definition, roleArn="not-a-role"
    )
    assert code == "InvalidArn"
    code, _ = await _error(sfn.update_state_machine, stateMachineArn=arn)
    assert code == "MissingRequiredParameter"


@pytest.mark.emulator_options(max_pollers_per_activity=2, long_poll_seconds=5)
async def test_too_many_pollers(sfn: Any, emulator: Emulator) -> None:
    activity = (await sfn.create_activity(name="busy"))["activityArn"]

    polls = [asyncio.create_task(sfn.get_activity_task(activityArn=activity)) for _ in range(2)]
    await until(lambda: emulator.snapshot()["polls_waiting"] == 2)
    code, message = await _error(sfn.get_activity_task, activityArn=activity)
    assert code == "ActivityWorkerLimitExceeded"
    assert message.startswith("The maximum number of workers concurrently polling")
    for poll in polls:
        poll.cancel()
    await asyncio.gather(*polls, return_exceptions=True)


async def test_list_executions_needs_a_state_machine(emulator: Emulator) -> None:
    status, answer = await raw_call(emulator.endpoint_url, TARGET + "ListExecutions", b"{}")
    assert status == 400
    assert answer["message"] == (
        "1 validation error detected: Must provide a StateMachine ARN or MapRun ARN"
    )


async def test_express_state_machines_are_refused(sfn: Any) -> None:
    definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    code, _ = await _error(
        sfn.create_state_machine, name="x", definition=definition, roleArn=ROLE, type="EXPRESS"
    )
    assert code == "StateMachineTypeNotSupported"


async def test_request_over_one_megabyte(emulator: Emulator) -> None:
    body = json.dumps({"name": "x" * (1024 * 1024)}).encode()
    status, answer = await raw_call(emulator.endpoint_url, TARGET + "CreateActivity", body)
    assert status == 413
    assert answer["__type"] == "RequestEntityTooLarge"
