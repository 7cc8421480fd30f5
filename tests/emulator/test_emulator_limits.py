"""AWS's limits and defaults: payload quota, RFC 3339 timestamps, role ARNs, throttling by
default, SigV4-signed requests."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import aioboto3
import pytest
from aiobotocore.config import AioConfig
from botocore.exceptions import ClientError
from emulator_support import ROLE, code_of, create_machine, event_types, raw_call, wait_closed

from fleet.emulator import Emulator, EmulatorOptions

BIG = "x" * 150_000  # two of these make a payload over the 256 KiB quota


async def test_a_state_output_over_256_kib_fails_the_execution(sfn: Any) -> None:
    definition = {
        "StartAt": "Double",
        "States": {
            "Double": {
                "Type": "Pass",
                "Parameters": {"a.$": "$.big", "b.$": "$.big"},
                "End": True,
            }
        },
    }
    machine = await create_machine(sfn, definition)
    arn = (await sfn.start_execution(stateMachineArn=machine, input=json.dumps({"big": BIG})))[
        "executionArn"
    ]
    described = await wait_closed(sfn, arn)
    assert (described["status"], described["error"]) == ("FAILED", "States.DataLimitExceeded")
    assert "exceeding the maximum number of bytes service limit" in described["cause"]
    assert await event_types(sfn, arn) == [
        "ExecutionStarted",
        "PassStateEntered",
        "ExecutionFailed",
    ]


def _task_merging_output(activity: str, catch: list[str]) -> dict[str, Any]:
    return {
        "StartAt": "Work",
        "States": {
            "Work": {
                "Type": "Task",
                "Resource": activity,
                "ResultPath": "$.result",
                "Catch": [{"ErrorEquals": catch, "ResultPath": "$.error", "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "Parameters": {"caught.$": "$.error.Error"}, "End": True},
        },
    }


@pytest.mark.parametrize(
    ("catch", "outcome"),
    [
        (["States.ALL"], ("FAILED", "States.DataLimitExceeded")),
        (["States.TaskFailed"], ("FAILED", "States.DataLimitExceeded")),
        (["States.DataLimitExceeded"], ("SUCCEEDED", None)),
    ],
)
async def test_states_all_does_not_catch_the_data_limit(
    sfn: Any, catch: list[str], outcome: tuple[str, str | None]
) -> None:
    activity = (await sfn.create_activity(name="work"))["activityArn"]
    machine = await create_machine(sfn, _task_merging_output(activity, catch))
    arn = (await sfn.start_execution(stateMachineArn=machine, input=json.dumps({"big": BIG})))[
        "executionArn"
    ]
    task = await sfn.get_activity_task(activityArn=activity)
    await sfn.send_task_success(taskToken=task["taskToken"], output=json.dumps(BIG))
    described = await wait_closed(sfn, arn)
    assert (described["status"], described.get("error")) == outcome
    if outcome[0] == "SUCCEEDED":
        assert json.loads(described["output"]) == {"caught": "States.DataLimitExceeded"}


@pytest.mark.parametrize(
    "stamp", ["2024-01-01T00:00:00", "2024-01-01", "2024-01-01 00:00:00Z", "tomorrow"]
)
async def test_wait_timestamps_need_rfc_3339_with_a_zone(sfn: Any, stamp: str) -> None:
    definition = {
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Timestamp": stamp, "End": True}},
    }
    with pytest.raises(ClientError) as caught:
        await create_machine(sfn, definition)
    assert code_of(caught.value) == "InvalidDefinition"
    assert "RFC 3339 timestamp with a zone" in caught.value.response["Error"]["Message"]


async def test_a_timestamp_path_without_a_zone_fails_at_run_time(sfn: Any) -> None:
    definition = {
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "TimestampPath": "$.at", "End": True}},
    }
    machine = await create_machine(sfn, definition)
    arn = (
        await sfn.start_execution(stateMachineArn=machine, input='{"at": "2024-01-01T00:00:00"}')
    )["executionArn"]
    described = await wait_closed(sfn, arn)
    assert described["error"] == "States.Runtime"
    assert "RFC 3339 timestamp with a zone" in described["cause"]
    good = await sfn.start_execution(
        stateMachineArn=machine, input='{"at": "2024-01-01T00:00:00.123456789+02:00"}'
    )
    assert (await wait_closed(sfn, good["executionArn"]))["status"] == "SUCCEEDED"


@pytest.mark.parametrize(
    "role",
    [
        "arn:aws:iam::12345678901:role/short-account",
        "arn:aws:iam::abcdefghijkl:role/letters",
        "arn:aws:iam:::role/none",
    ],
)
async def test_role_arns_need_a_12_digit_account(sfn: Any, role: str) -> None:
    definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    with pytest.raises(ClientError) as caught:
        await sfn.create_state_machine(name="m", definition=definition, roleArn=role)
    assert code_of(caught.value) == "InvalidArn"


# -- defaults ------------------------------------------------------------------------------------


@pytest.fixture
async def aws_default_endpoint(aws_credentials: None) -> AsyncIterator[Emulator]:
    """An endpoint with every option at its default (the suite's FAST_OPTIONS not applied)."""
    async with Emulator(EmulatorOptions()) as emu:
        yield emu


def _client(emu: Emulator, region: str = "us-east-1") -> Any:
    return aioboto3.Session().client(
        "stepfunctions",
        endpoint_url=emu.endpoint_url,
        region_name=region,
        config=AioConfig(retries={"max_attempts": 0}),
    )


async def test_throttling_is_on_by_default(aws_default_endpoint: Emulator) -> None:
    async with _client(aws_default_endpoint) as sfn:
        for index in range(100):  # CreateActivity: a bucket of 100, refilled 1 per second
            await sfn.create_activity(name=f"a{index}")
        with pytest.raises(ClientError) as caught:
            await sfn.create_activity(name="one-too-many")
    assert code_of(caught.value) == "ThrottlingException"
    assert caught.value.response["Error"]["Message"] == "Rate exceeded"


async def test_the_default_buckets_follow_the_callers_region(
    aws_default_endpoint: Emulator,
) -> None:
    # ListExecutions: a bucket of 200 in the large regions, 100 in the others.
    async def calls_before_throttled(region: str) -> tuple[int, str]:
        async with _client(aws_default_endpoint, region) as sfn:
            machine = (
                await sfn.create_state_machine(
                    name="m",
                    definition='{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}',
                    roleArn=ROLE,
                )
            )["stateMachineArn"]
            for count in range(300):
                try:
                    await sfn.list_executions(stateMachineArn=machine)
                except ClientError as exc:
                    return count, code_of(exc)
        return 300, "never throttled"

    # Refills add a few calls on a slow machine; the bucket sizes still set the two apart.
    count, code = await calls_before_throttled("eu-central-1")
    assert (100 <= count < 200, code) == (True, "ThrottlingException")
    count, code = await calls_before_throttled("us-east-1")
    assert (count >= 200, code) == (True, "ThrottlingException")


@pytest.mark.emulator_options(throttle="aws")
async def test_throttling_can_be_turned_off(sfn: Any, emulator: Emulator) -> None:
    emulator.options.throttle = None
    for index in range(120):
        await sfn.create_activity(name=f"a{index}")
    assert emulator.stats.throttled == {}


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "MissingAuthenticationTokenException"),
        ("", "MissingAuthenticationTokenException"),
        ("Bearer abc", "IncompleteSignatureException"),
        ("AWS4-HMAC-SHA256 Credential=abc", "IncompleteSignatureException"),
        (
            "AWS4-HMAC-SHA256 Credential=k/20240101/us-east-1/states/aws4_request, "
            "SignedHeaders=host, Signature=not-hex",
            "IncompleteSignatureException",
        ),
    ],
)
async def test_requests_must_be_signed(
    emulator: Emulator, authorization: str | None, code: str
) -> None:
    status, body = await raw_call(
        emulator.endpoint_url,
        "AWSStepFunctions.ListActivities",
        b"{}",
        headers={"Authorization": authorization},
    )
    assert status == 400
    assert body["__type"] == f"com.amazon.coral.service#{code}"
    assert body["message"]


async def test_any_access_key_is_accepted(emulator: Emulator) -> None:
    session = aioboto3.Session(aws_access_key_id="AKIAANYTHING", aws_secret_access_key="whatever")
    async with session.client(
        "stepfunctions", endpoint_url=emulator.endpoint_url, region_name="us-east-1"
    ) as sfn:
        assert (await sfn.list_activities())["activities"] == []


def test_help_claims_exactness_only_where_it_holds() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, fleet._cli; sys.exit(fleet._cli.main())",
            "emulator",
            "--help",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    text = " ".join(done.stdout.split())
    assert "exactly" not in text
    assert "signatures are not verified" in text
    assert "(default aws)" in text
    assert "--no-lost-polls" in text
