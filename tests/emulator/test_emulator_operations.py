"""Operations beyond the activity path, through aioboto3 and the AWS CLI.

Tags, DescribeStateMachineForExecution, ValidateStateMachineDefinition, RedriveExecution,
METADATA_ONLY, logging and tracing configuration, ARN partitions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from emulator_support import ROLE, code_of, event_types, machine_with_task, wait_closed

from fleet.emulator import ThreadedEmulator

AWS_CLI = Path(sys.executable).with_name("aws")
LOG_GROUP = "arn:aws:logs:us-east-1:123456789012:log-group:sfn:*"


def _tags(count: int) -> list[dict[str, str]]:
    return [{"key": f"k{i}", "value": f"v{i}"} for i in range(count)]


async def test_tags_given_at_create_are_readable_and_changeable(sfn: Any) -> None:
    activity = (await sfn.create_activity(name="a", tags=[{"key": "team", "value": "x"}]))[
        "activityArn"
    ]
    assert (await sfn.list_tags_for_resource(resourceArn=activity))["tags"] == [
        {"key": "team", "value": "x"}
    ]
    await sfn.tag_resource(resourceArn=activity, tags=[{"key": "env", "value": "dev"}])
    await sfn.untag_resource(resourceArn=activity, tagKeys=["team", "absent"])
    assert (await sfn.list_tags_for_resource(resourceArn=activity))["tags"] == [
        {"key": "env", "value": "dev"}
    ]
    machine = (
        await sfn.create_state_machine(
            name="m",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
            roleArn=ROLE,
            tags=_tags(2),
        )
    )["stateMachineArn"]
    assert len((await sfn.list_tags_for_resource(resourceArn=machine))["tags"]) == 2


async def test_at_most_fifty_tags(sfn: Any) -> None:
    with pytest.raises(ClientError) as caught:
        await sfn.create_activity(name="a", tags=_tags(51))
    assert code_of(caught.value) == "TooManyTags"
    activity = (await sfn.create_activity(name="a", tags=_tags(50)))["activityArn"]
    with pytest.raises(ClientError) as caught:
        await sfn.tag_resource(resourceArn=activity, tags=[{"key": "one-more", "value": ""}])
    assert code_of(caught.value) == "TooManyTags"
    # Re-tagging existing keys does not add to the count.
    await sfn.tag_resource(resourceArn=activity, tags=[{"key": "k0", "value": "new"}])


async def test_tagging_an_unknown_resource(sfn: Any) -> None:
    arn = "arn:aws:states:us-east-1:123456789012:activity:nope"
    with pytest.raises(ClientError) as caught:
        await sfn.list_tags_for_resource(resourceArn=arn)
    assert code_of(caught.value) == "ResourceNotFound"
    with pytest.raises(ClientError) as caught:
        await sfn.tag_resource(resourceArn="not-an-arn", tags=[])
    assert code_of(caught.value) == "InvalidArn"


async def test_describe_state_machine_for_execution_keeps_the_started_definition(
    sfn: Any,
) -> None:
    _activity, machine = await machine_with_task(sfn)
    original = (await sfn.describe_state_machine(stateMachineArn=machine))["definition"]
    arn = (await sfn.start_execution(stateMachineArn=machine))["executionArn"]
    changed = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    await sfn.update_state_machine(stateMachineArn=machine, definition=changed)
    described = await sfn.describe_state_machine_for_execution(executionArn=arn)
    assert described["stateMachineArn"] == machine
    assert described["definition"] == original
    assert described["roleArn"] == ROLE
    meta = await sfn.describe_state_machine_for_execution(
        executionArn=arn, includedData="METADATA_ONLY"
    )
    assert "definition" not in meta


async def test_metadata_only_leaves_out_the_data(sfn: Any) -> None:
    machine = (
        await sfn.create_state_machine(
            name="m",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
            roleArn=ROLE,
        )
    )["stateMachineArn"]
    arn = (await sfn.start_execution(stateMachineArn=machine, input='{"secret": 1}'))[
        "executionArn"
    ]
    await wait_closed(sfn, arn)
    full = await sfn.describe_execution(executionArn=arn)
    assert json.loads(full["output"]) == json.loads(full["input"]) == {"secret": 1}
    meta = await sfn.describe_execution(executionArn=arn, includedData="METADATA_ONLY")
    assert meta["status"] == "SUCCEEDED"
    assert not {"input", "output", "inputDetails", "outputDetails"} & set(meta)
    described = await sfn.describe_state_machine(
        stateMachineArn=machine, includedData="METADATA_ONLY"
    )
    assert "definition" not in described


async def test_validate_state_machine_definition(sfn: Any) -> None:
    good = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    assert await _strip(sfn.validate_state_machine_definition(definition=good)) == {
        "result": "OK",
        "diagnostics": [],
        "truncated": False,
    }
    bad = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "Q"}}})
    answer = await _strip(sfn.validate_state_machine_definition(definition=bad))
    assert answer["result"] == "FAIL"
    assert answer["diagnostics"] == [
        {
            "severity": "ERROR",
            "code": "MISSING_TRANSITION_TARGET",
            "message": "Missing 'Next' target: Q",
            "location": "/States/P/Next",
        }
    ]
    broken = await _strip(sfn.validate_state_machine_definition(definition="{"))
    assert broken["diagnostics"][0]["code"] == "INVALID_JSON_DESCRIPTION"
    # Nothing was created.
    assert (await sfn.list_state_machines())["stateMachines"] == []


async def _strip(call: Any) -> dict[str, Any]:
    answer = dict(await call)
    answer.pop("ResponseMetadata")
    return answer


async def test_logging_and_tracing_are_stored_and_described(sfn: Any) -> None:
    logging = {
        "level": "ERROR",
        "includeExecutionData": True,
        "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": LOG_GROUP}}],
    }
    machine = (
        await sfn.create_state_machine(
            name="m",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
            roleArn=ROLE,
            loggingConfiguration=logging,
            tracingConfiguration={"enabled": True},
        )
    )["stateMachineArn"]
    described = await sfn.describe_state_machine(stateMachineArn=machine)
    assert described["loggingConfiguration"] == logging
    assert described["tracingConfiguration"] == {"enabled": True}
    await sfn.update_state_machine(stateMachineArn=machine, tracingConfiguration={"enabled": False})
    described = await sfn.describe_state_machine(stateMachineArn=machine)
    assert described["tracingConfiguration"] == {"enabled": False}
    assert described["loggingConfiguration"] == logging
    with pytest.raises(ClientError) as caught:
        await sfn.update_state_machine(
            stateMachineArn=machine, loggingConfiguration={"level": "ALL"}
        )
    assert code_of(caught.value) == "InvalidLoggingConfiguration"


@pytest.mark.emulator_options(time_scale=100.0)
async def test_redrive_runs_again_from_the_failed_state(sfn: Any) -> None:
    activity, machine = await machine_with_task(sfn, ResultPath="$.r")
    arn = (await sfn.start_execution(stateMachineArn=machine, input='{"n": 1}'))["executionArn"]
    running = await sfn.describe_execution(executionArn=arn)
    assert (running["redriveStatus"], running["redriveStatusReason"]) == (
        "NOT_REDRIVABLE",
        "Execution is RUNNING and cannot be redriven",
    )
    with pytest.raises(ClientError) as caught:
        await sfn.redrive_execution(executionArn=arn)
    assert code_of(caught.value) == "ExecutionNotRedrivable"

    task = await sfn.get_activity_task(activityArn=activity)
    await sfn.send_task_failure(taskToken=task["taskToken"], error="Flaky")
    failed = await wait_closed(sfn, arn)
    assert (failed["status"], failed["redriveStatus"]) == ("FAILED", "REDRIVABLE")
    assert "redriveStatusReason" not in failed

    redriven = await sfn.redrive_execution(executionArn=arn)
    assert "redriveDate" in redriven
    task = await sfn.get_activity_task(activityArn=activity)
    assert json.loads(task["input"]) == {"n": 1}
    await sfn.send_task_success(taskToken=task["taskToken"], output='"ok"')
    done = await wait_closed(sfn, arn)
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"n": 1, "r": "ok"}
    assert done["redriveCount"] == 1
    assert done["redriveStatusReason"] == "Execution is SUCCEEDED and cannot be redriven"
    types = await event_types(sfn, arn)
    assert types.count("ExecutionFailed") == 1
    assert types[types.index("ExecutionFailed") + 1] == "ExecutionRedriven"
    listed = (await sfn.list_executions(stateMachineArn=machine))["executions"][0]
    assert listed["redriveCount"] == 1
    redriven = await sfn.list_executions(stateMachineArn=machine, redriveFilter="REDRIVEN")
    assert [e["executionArn"] for e in redriven["executions"]] == [arn]
    others = await sfn.list_executions(stateMachineArn=machine, redriveFilter="NOT_REDRIVEN")
    assert others["executions"] == []


async def test_arns_follow_the_partition_of_the_region(make_sfn: Any) -> None:
    for region, partition in (
        ("cn-north-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
    ):
        async with make_sfn(region=region) as client:
            arn = (await client.create_activity(name="a"))["activityArn"]
            assert arn == f"arn:{partition}:states:{region}:123456789012:activity:a"
            described = await client.describe_activity(activityArn=arn)
            assert described["name"] == "a"


def _aws(emu: ThreadedEmulator, *args: str) -> Any:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    command = [str(AWS_CLI), "stepfunctions", *args, "--endpoint-url", emu.endpoint_url]
    done = subprocess.run(
        [*command, "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed: {done.stderr}")
    return json.loads(done.stdout) if done.stdout.strip() else None


@pytest.mark.slow
@pytest.mark.emulator_options(time_scale=100.0)
@pytest.mark.skipif(not AWS_CLI.exists(), reason="the AWS CLI is part of the test extra")
def test_every_operation_through_the_aws_cli(emulator_thread: ThreadedEmulator) -> None:
    emu = emulator_thread
    failing = json.dumps(
        {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E", "Cause": "c"}}}
    )
    assert _aws(emu, "validate-state-machine-definition", "--definition", failing)["result"] == "OK"
    machine = _aws(
        emu,
        "create-state-machine",
        "--name",
        "cli",
        "--definition",
        failing,
        "--role-arn",
        ROLE,
        "--tags",
        "key=team,value=a",
        "--tracing-configuration",
        "enabled=true",
    )["stateMachineArn"]
    _aws(emu, "tag-resource", "--resource-arn", machine, "--tags", "key=env,value=dev")
    _aws(emu, "untag-resource", "--resource-arn", machine, "--tag-keys", "team")
    tags = _aws(emu, "list-tags-for-resource", "--resource-arn", machine)["tags"]
    assert tags == [{"key": "env", "value": "dev"}]
    described = _aws(emu, "describe-state-machine", "--state-machine-arn", machine)
    assert described["tracingConfiguration"] == {"enabled": True}

    arn = _aws(emu, "start-execution", "--state-machine-arn", machine)["executionArn"]
    for_execution = _aws(emu, "describe-state-machine-for-execution", "--execution-arn", arn)
    assert for_execution["definition"] == failing
    meta = _aws(
        emu, "describe-execution", "--execution-arn", arn, "--included-data", "METADATA_ONLY"
    )
    assert "input" not in meta
    assert meta["status"] == "FAILED"
    assert meta["redriveStatus"] == "REDRIVABLE"
    assert "redriveDate" in _aws(emu, "redrive-execution", "--execution-arn", arn)
    again = _aws(emu, "describe-execution", "--execution-arn", arn)
    assert (again["status"], again["redriveCount"]) == ("FAILED", 1)


async def test_publishing_versions_is_refused_clearly(sfn: Any) -> None:
    definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    with pytest.raises(ClientError) as caught:
        await sfn.create_state_machine(name="m", definition=definition, roleArn=ROLE, publish=True)
    assert code_of(caught.value) == "ValidationException"
    assert "versions and aliases are not supported" in caught.value.response["Error"]["Message"]


def _fan(activity: str, kind: str) -> dict[str, Any]:
    task = {"Type": "Task", "Resource": activity, "End": True}
    if kind == "Parallel":
        state: dict[str, Any] = {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "A", "States": {"A": {**task, "Parameters": {"n": 0}}}},
                {"StartAt": "B", "States": {"B": {**task, "Parameters": {"n": 1}}}},
                {"StartAt": "C", "States": {"C": {**task, "Parameters": {"n": 2}}}},
            ],
            "End": True,
        }
    else:
        state = {
            "Type": "Map",
            "ItemSelector": {"n.$": "$$.Map.Item.Value"},
            "ItemProcessor": {"StartAt": "T", "States": {"T": task}},
            "End": True,
        }
    return {"StartAt": "Fan", "States": {"Fan": state}}


@pytest.mark.parametrize("kind", ["Parallel", "Map"])
@pytest.mark.emulator_options(time_scale=100.0)
async def test_redrive_reruns_only_the_branches_that_did_not_succeed(sfn: Any, kind: str) -> None:
    activity = (await sfn.create_activity(name="work"))["activityArn"]
    machine = (
        await sfn.create_state_machine(
            name="fan", definition=json.dumps(_fan(activity, kind)), roleArn=ROLE
        )
    )["stateMachineArn"]
    arn = (await sfn.start_execution(stateMachineArn=machine, input="[0, 1, 2]"))["executionArn"]
    tasks = {}
    for _ in range(3):
        task = await sfn.get_activity_task(activityArn=activity)
        tasks[json.loads(task["input"])["n"]] = task["taskToken"]
    await sfn.send_task_success(taskToken=tasks[0], output='"zero"')
    await sfn.send_task_failure(taskToken=tasks[1], error="Flaky")
    failed = await wait_closed(sfn, arn)
    assert (failed["status"], failed["error"]) == ("FAILED", "Flaky")

    await sfn.redrive_execution(executionArn=arn)
    again = {}
    for _ in range(2):  # the failed one and the stopped one; the succeeded one is kept
        task = await sfn.get_activity_task(activityArn=activity)
        again[json.loads(task["input"])["n"]] = task["taskToken"]
    assert sorted(again) == [1, 2]
    await sfn.send_task_success(taskToken=again[1], output='"one"')
    await sfn.send_task_success(taskToken=again[2], output='"two"')
    done = await wait_closed(sfn, arn)
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == ["zero", "one", "two"]
    history = (await sfn.get_execution_history(executionArn=arn, maxResults=1000))["events"]
    assert sum(e["type"] == "ActivityScheduled" for e in history) == 5
