"""Create, start, poll, succeed, describe: with aioboto3, boto3 and the AWS CLI unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError
from emulator_support import ROLE, event_types, machine_with_task, task_definition

from fleet.emulator import Emulator, ThreadedEmulator

AWS_CLI = Path(sys.executable).with_name("aws")


async def test_aioboto3_round_trip(sfn: Any, emulator: Emulator) -> None:
    activity, machine = await machine_with_task(sfn, "orders", ResultPath="$.result")
    started = await sfn.start_execution(stateMachineArn=machine, name="order-1", input='{"id": 7}')

    task = await sfn.get_activity_task(activityArn=activity, workerName="worker-a")
    assert json.loads(task["input"]) == {"id": 7}
    assert len(task["taskToken"]) > 200
    await sfn.send_task_success(taskToken=task["taskToken"], output='{"done": true}')

    described = await sfn.describe_execution(executionArn=started["executionArn"])
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"id": 7, "result": {"done": True}}
    assert started["executionArn"].endswith(":execution:orders:order-1")
    assert await event_types(sfn, started["executionArn"]) == [
        "ExecutionStarted",
        "TaskStateEntered",
        "ActivityScheduled",
        "ActivityStarted",
        "ActivitySucceeded",
        "TaskStateExited",
        "ExecutionSucceeded",
    ]
    assert emulator.stats.requests["GetActivityTask"] == 1


async def test_history_event_shapes_match_aws(sfn: Any) -> None:
    activity, machine = await machine_with_task(sfn, TimeoutSeconds=30, HeartbeatSeconds=10)
    arn = (await sfn.start_execution(stateMachineArn=machine, input='{"a":1}'))["executionArn"]
    task = await sfn.get_activity_task(activityArn=activity)
    await sfn.send_task_success(taskToken=task["taskToken"], output='"ok"')

    history = (await sfn.get_execution_history(executionArn=arn))["events"]
    assert [(e["id"], e["previousEventId"]) for e in history] == [
        (1, 0),
        (2, 0),
        (3, 2),
        (4, 3),
        (5, 4),
        (6, 5),
        (7, 6),
    ]
    scheduled = history[2]["activityScheduledEventDetails"]
    assert scheduled == {
        "resource": activity,
        "input": '{"a":1}',
        "inputDetails": {"truncated": False},
        "timeoutInSeconds": 30,
        "heartbeatInSeconds": 10,
    }
    # No workerName given: AWS records empty details.
    assert history[3]["activityStartedEventDetails"] == {}
    assert history[4]["activitySucceededEventDetails"]["output"] == '"ok"'
    assert history[5]["stateExitedEventDetails"]["name"] == "Work"
    assert history[0]["timestamp"] <= history[-1]["timestamp"]


async def test_scheduled_event_omits_unset_clocks(sfn: Any) -> None:
    _activity, machine = await machine_with_task(sfn)
    arn = (await sfn.start_execution(stateMachineArn=machine))["executionArn"]
    history = (await sfn.get_execution_history(executionArn=arn))["events"]
    details = history[2]["activityScheduledEventDetails"]
    assert "timeoutInSeconds" not in details
    assert "heartbeatInSeconds" not in details
    assert details["input"] == "{}"


def _boto3(emu: ThreadedEmulator, region: str = "us-east-1") -> Any:
    return boto3.client(
        "stepfunctions",
        endpoint_url=emu.endpoint_url,
        region_name=region,
        config=Config(read_timeout=70, retries={"max_attempts": 0}),
    )


def test_boto3_round_trip_in_another_region(emulator_thread: ThreadedEmulator) -> None:
    client = _boto3(emulator_thread, "eu-central-1")
    activity = client.create_activity(name="resize")["activityArn"]
    assert activity == "arn:aws:states:eu-central-1:123456789012:activity:resize"
    machine = client.create_state_machine(
        name="resize", definition=task_definition(activity), roleArn=ROLE
    )["stateMachineArn"]
    arn = client.start_execution(stateMachineArn=machine, input='{"w": 10}')["executionArn"]

    task = client.get_activity_task(activityArn=activity, workerName="w1")
    client.send_task_success(taskToken=task["taskToken"], output='{"w": 5}')

    described = client.describe_execution(executionArn=arn)
    assert described["status"] == "SUCCEEDED"
    assert described["output"] == '{"w": 5}'
    history = client.get_execution_history(executionArn=arn)["events"]
    assert history[3]["activityStartedEventDetails"] == {"workerName": "w1"}
    # The same names in the default region are other resources.
    assert _boto3(emulator_thread).list_activities()["activities"] == []


def _aws(emu: ThreadedEmulator, *args: str) -> Any:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-west-2",
    }
    done = subprocess.run(
        [
            str(AWS_CLI),
            "stepfunctions",
            *args,
            "--endpoint-url",
            emu.endpoint_url,
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed: {done.stderr}")
    return json.loads(done.stdout) if done.stdout.strip() else None


@pytest.mark.skipif(not AWS_CLI.exists(), reason="the AWS CLI is part of the test extra")
def test_aws_cli_round_trip(emulator_thread: ThreadedEmulator) -> None:
    activity = _aws(emulator_thread, "create-activity", "--name", "cli")["activityArn"]
    assert ":us-west-2:" in activity
    machine = _aws(
        emulator_thread,
        "create-state-machine",
        "--name",
        "cli",
        "--definition",
        task_definition(activity),
        "--role-arn",
        ROLE,
    )["stateMachineArn"]
    arn = _aws(
        emulator_thread, "start-execution", "--state-machine-arn", machine, "--input", '{"n": 1}'
    )["executionArn"]

    task = _aws(emulator_thread, "get-activity-task", "--activity-arn", activity)
    assert json.loads(task["input"]) == {"n": 1}
    _aws(
        emulator_thread,
        "send-task-success",
        "--task-token",
        task["taskToken"],
        "--task-output",
        '{"n": 2}',
    )

    described = _aws(emulator_thread, "describe-execution", "--execution-arn", arn)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"n": 2}


def test_thread_endpoint_can_stop_and_resume_listening(emulator_thread: ThreadedEmulator) -> None:
    client = _boto3(emulator_thread)
    client.create_activity(name="kept")
    emulator_thread.stop_listening()
    with pytest.raises(EndpointConnectionError):
        client.list_activities()
    emulator_thread.start_listening()
    assert [a["name"] for a in client.list_activities()["activities"]] == ["kept"]
    assert emulator_thread.stats.requests["ListActivities"] == 1
