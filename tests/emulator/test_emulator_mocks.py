"""Service-integration Task states answered from a Step Functions Local mock configuration."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from emulator_support import code_of, create_machine, events, wait_closed

from fleet.emulator import Emulator

pytestmark = pytest.mark.emulator_options(time_scale=100.0)

LAMBDA = "arn:aws:states:::lambda:invoke"
SQS = "arn:aws:states:::sqs:sendMessage"

MOCKS = {
    "StateMachines": {
        "orders": {
            "TestCases": {
                "HappyPath": {"Check": "CheckOk", "Notify": "SentOk"},
                "RetryPath": {"Check": "CheckFlaky", "Notify": "SentOk"},
                "FailPath": {"Check": "CheckBroken"},
            }
        }
    },
    "MockedResponses": {
        "CheckOk": {"0": {"Return": {"StatusCode": 200, "Payload": {"ok": True}}}},
        "CheckFlaky": {
            "0-1": {"Throw": {"Error": "Lambda.ServiceException", "Cause": "busy"}},
            "2": {"Return": {"StatusCode": 200, "Payload": {"ok": "late"}}},
        },
        "CheckBroken": {"0": {"Throw": {"Error": "Lambda.Unknown", "Cause": "gone"}}},
        "SentOk": {"0": {"Return": {"MessageId": "m-1"}}},
    },
}


def _definition(activity: str) -> dict[str, Any]:
    return {
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Task",
                "Resource": LAMBDA,
                "Parameters": {"FunctionName": "check", "Payload.$": "$"},
                "ResultSelector": {"ok.$": "$.Payload.ok"},
                "ResultPath": "$.check",
                "Retry": [
                    {
                        "ErrorEquals": ["Lambda.ServiceException"],
                        "IntervalSeconds": 1,
                        "MaxAttempts": 2,
                    }
                ],
                "Next": "Work",
            },
            "Work": {
                "Type": "Task",
                "Resource": activity,
                "ResultPath": "$.work",
                "Next": "Notify",
            },
            "Notify": {
                "Type": "Task",
                "Resource": SQS,
                "Parameters": {"QueueUrl": "https://sqs/q", "MessageBody.$": "$.work"},
                "ResultPath": "$.sent",
                "End": True,
            },
        },
    }


@pytest.fixture
def mock_file(tmp_path: Path, emulator: Emulator) -> Path:
    path = tmp_path / "mocks.json"
    path.write_text(json.dumps(MOCKS))
    emulator.options.mock_config = str(path)
    return path


async def _start(sfn: Any, case: str) -> tuple[str, str]:
    activity = (await sfn.create_activity(name="work"))["activityArn"]
    machine = await create_machine(sfn, _definition(activity), name="orders")
    started = await sfn.start_execution(stateMachineArn=f"{machine}#{case}", input='{"id": 1}')
    return activity, started["executionArn"]


async def _work(sfn: Any, activity: str) -> None:
    task = await sfn.get_activity_task(activityArn=activity)
    await sfn.send_task_success(taskToken=task["taskToken"], output='"done"')


@pytest.mark.usefixtures("mock_file")
async def test_mocked_services_and_activities_run_together(sfn: Any) -> None:
    activity, arn = await _start(sfn, "HappyPath")
    assert ":execution:orders:" in arn
    await _work(sfn, activity)
    described = await wait_closed(sfn, arn)
    assert json.loads(described["output"]) == {
        "id": 1,
        "check": {"ok": True},
        "work": "done",
        "sent": {"MessageId": "m-1"},
    }
    history = await events(sfn, arn)
    scheduled = [e["taskScheduledEventDetails"] for e in history if e["type"] == "TaskScheduled"]
    assert scheduled[0]["resourceType"] == "lambda"
    assert scheduled[0]["resource"] == "invoke"
    assert scheduled[0]["region"] == "us-east-1"
    assert json.loads(scheduled[0]["parameters"]) == {"FunctionName": "check", "Payload": {"id": 1}}
    assert scheduled[1]["resourceType"] == "sqs"
    types = [e["type"] for e in history]
    first = types.index("TaskScheduled")
    assert types[first : first + 4] == [
        "TaskScheduled",
        "TaskStarted",
        "TaskSucceeded",
        "TaskStateExited",
    ]


@pytest.mark.usefixtures("mock_file")
async def test_invocation_numbers_let_retries_fail_then_succeed(sfn: Any) -> None:
    activity, arn = await _start(sfn, "RetryPath")
    await _work(sfn, activity)
    described = await wait_closed(sfn, arn)
    assert json.loads(described["output"])["check"] == {"ok": "late"}
    history = await events(sfn, arn)
    failures = [e["taskFailedEventDetails"] for e in history if e["type"] == "TaskFailed"]
    assert (
        failures
        == [
            {
                "resourceType": "lambda",
                "resource": "invoke",
                "error": "Lambda.ServiceException",
                "cause": "busy",
            }
        ]
        * 2
    )


@pytest.mark.usefixtures("mock_file")
async def test_a_retried_parallel_state_runs_its_branches_again(sfn: Any) -> None:
    definition = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "Check",
                        "States": {"Check": {"Type": "Task", "Resource": LAMBDA, "End": True}},
                    }
                ],
                "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2}],
                "End": True,
            }
        },
    }
    machine = await create_machine(sfn, definition, name="orders")
    arn = (await sfn.start_execution(stateMachineArn=f"{machine}#RetryPath"))["executionArn"]
    described = await wait_closed(sfn, arn)
    assert json.loads(described["output"]) == [{"StatusCode": 200, "Payload": {"ok": "late"}}]
    types = [e["type"] for e in await events(sfn, arn)]
    assert types.count("ParallelStateStarted") == 3
    assert types.count("ParallelStateFailed") == 2
    assert types.count("ParallelStateSucceeded") == 1


@pytest.mark.usefixtures("mock_file")
async def test_a_lambda_function_arn_records_lambda_events(sfn: Any) -> None:
    function = "arn:aws:lambda:us-east-1:123456789012:function:check"
    definition = {
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Task",
                "Resource": function,
                "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1}],
                "End": True,
            }
        },
    }
    machine = await create_machine(sfn, definition, name="orders")
    arn = (await sfn.start_execution(stateMachineArn=f"{machine}#RetryPath", input='{"a": 1}'))[
        "executionArn"
    ]
    described = await wait_closed(sfn, arn)
    assert json.loads(described["output"]) == {"StatusCode": 200, "Payload": {"ok": "late"}}
    history = await events(sfn, arn)
    assert [e["type"] for e in history][1:6] == [
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionFailed",
        "LambdaFunctionScheduled",
    ]
    scheduled = history[2]["lambdaFunctionScheduledEventDetails"]
    assert (scheduled["resource"], scheduled["input"]) == (function, '{"a":1}')
    assert history[4]["lambdaFunctionFailedEventDetails"] == {
        "error": "Lambda.ServiceException",
        "cause": "busy",
    }


@pytest.mark.usefixtures("mock_file")
async def test_a_thrown_error_fails_the_execution(sfn: Any) -> None:
    _activity, arn = await _start(sfn, "FailPath")
    described = await wait_closed(sfn, arn)
    assert (described["error"], described["cause"]) == ("Lambda.Unknown", "gone")


@pytest.mark.usefixtures("mock_file")
async def test_an_unknown_test_case_is_refused(sfn: Any) -> None:
    activity = (await sfn.create_activity(name="work"))["activityArn"]
    machine = await create_machine(sfn, _definition(activity), name="orders")
    with pytest.raises(ClientError) as caught:
        await sfn.start_execution(stateMachineArn=f"{machine}#Nope")
    assert code_of(caught.value) == "InvalidArn"
    assert "no test case 'Nope'" in caught.value.response["Error"]["Message"]


async def test_without_a_test_case_a_service_task_fails_clearly(sfn: Any) -> None:
    activity = (await sfn.create_activity(name="work"))["activityArn"]
    machine = await create_machine(sfn, _definition(activity), name="orders")
    arn = (await sfn.start_execution(stateMachineArn=machine))["executionArn"]
    described = await wait_closed(sfn, arn)
    assert described["error"] == "States.Runtime"
    assert "is not an activity" in described["cause"]
    assert "--mock-config" in described["cause"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{", "is not valid JSON"),
        ('{"MockedResponses": {"R": {"zero": {"Return": 1}}}}', "is not an invocation number"),
        (
            '{"StateMachines": {"m": {"TestCases": {"c": {"S": "Missing"}}}}}',
            "names an unknown mocked response 'Missing'",
        ),
    ],
)
def test_the_cli_refuses_a_bad_mock_config(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "mocks.json"
    path.write_text(content)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, fleet._cli; sys.exit(fleet._cli.main())",
            "emulator",
            "--port",
            "0",
            "--mock-config",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert problem in done.stderr
    assert "Traceback" not in done.stderr
