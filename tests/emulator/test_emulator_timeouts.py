"""TimeoutSeconds and HeartbeatSeconds, counted from ActivityStarted, with Retry and Catch.

Service clocks run 100 times faster here, so a 10-second heartbeat timeout takes 0.1 s.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest
from botocore.exceptions import ClientError
from emulator_support import code_of, create_machine, events, machine_with_task, wait_closed

from fleet.emulator._retry import Retrier

pytestmark = pytest.mark.emulator_options(time_scale=100.0)


async def _start_and_poll(
    sfn: Any, activity: str, machine: str, payload: str = "{}"
) -> tuple[str, str]:
    arn = (await sfn.start_execution(stateMachineArn=machine, input=payload))["executionArn"]
    token = (await sfn.get_activity_task(activityArn=activity))["taskToken"]
    return arn, token


async def test_task_timeout_fails_the_execution(sfn: Any) -> None:
    activity, machine = await machine_with_task(sfn, TimeoutSeconds=5)
    arn, token = await _start_and_poll(sfn, activity, machine)

    described = await wait_closed(sfn, arn)
    assert (described["status"], described["error"]) == ("FAILED", "States.Timeout")
    history = await events(sfn, arn)
    assert [e["type"] for e in history[-3:]] == [
        "ActivityStarted",
        "ActivityTimedOut",
        "ExecutionFailed",
    ]
    assert history[-2]["activityTimedOutEventDetails"] == {"error": "States.Timeout"}
    assert history[-1]["executionFailedEventDetails"] == {"error": "States.Timeout"}
    with pytest.raises(ClientError) as caught:
        await sfn.send_task_success(taskToken=token, output="{}")
    assert code_of(caught.value) == "TaskTimedOut"


async def test_timeout_clock_starts_when_the_task_is_taken(sfn: Any) -> None:
    activity, machine = await machine_with_task(sfn, TimeoutSeconds=30)
    arn = (await sfn.start_execution(stateMachineArn=machine))["executionArn"]
    await asyncio.sleep(0.4)  # longer than the 0.3 s timeout, waiting in ActivityScheduled
    assert (await sfn.describe_execution(executionArn=arn))["status"] == "RUNNING"

    token = (await sfn.get_activity_task(activityArn=activity))["taskToken"]
    await sfn.send_task_success(taskToken=token, output='{"in": "time"}')
    assert (await wait_closed(sfn, arn))["status"] == "SUCCEEDED"


async def test_heartbeats_keep_a_task_alive_until_they_stop(sfn: Any) -> None:
    # A heartbeat every ~0.03 s against 1 s of allowed silence: only a test held up for most
    # of a second by a busy machine could miss one.
    activity, machine = await machine_with_task(sfn, TimeoutSeconds=1000, HeartbeatSeconds=100)
    arn, token = await _start_and_poll(sfn, activity, machine)
    loop = asyncio.get_running_loop()
    began = loop.time()
    while loop.time() - began < 1.5:  # heartbeats for longer than the heartbeat timeout
        await asyncio.sleep(0.03)
        await sfn.send_task_heartbeat(taskToken=token)
    assert (await sfn.describe_execution(executionArn=arn))["status"] == "RUNNING"

    described = await wait_closed(sfn, arn)
    assert (described["status"], described["error"]) == ("FAILED", "States.Timeout")
    assert (await events(sfn, arn))[-2]["type"] == "ActivityTimedOut"


async def test_heartbeats_do_not_extend_the_total_timeout(sfn: Any) -> None:
    activity, machine = await machine_with_task(sfn, TimeoutSeconds=20, HeartbeatSeconds=10)
    arn, token = await _start_and_poll(sfn, activity, machine)
    loop = asyncio.get_running_loop()
    began = loop.time()

    async def heartbeat_until_rejected() -> ClientError:
        # 100 times the 0.2 s TimeoutSeconds: only heartbeats that extend it get this far.
        while loop.time() - began < 20:
            try:
                await sfn.send_task_heartbeat(taskToken=token)
            except ClientError as error:
                return error
            await asyncio.sleep(0.02)
        raise AssertionError("heartbeats were accepted past TimeoutSeconds")

    assert code_of(await heartbeat_until_rejected()) == "TaskTimedOut"
    assert (await wait_closed(sfn, arn))["error"] == "States.Timeout"


@pytest.mark.parametrize(
    ("errors", "heartbeat", "caught"),
    [
        (["States.Timeout"], False, True),
        (["States.Timeout"], True, True),
        (["States.HeartbeatTimeout"], True, True),
        (["States.HeartbeatTimeout"], False, False),
        (["States.TaskFailed"], False, False),
        (["States.TaskFailed"], True, False),
        (["States.ALL"], True, True),
        (["Some.Other"], False, False),
    ],
)
async def test_which_catchers_see_a_timeout(
    sfn: Any, errors: list[str], heartbeat: bool, caught: bool
) -> None:
    activity = (await sfn.create_activity(name="slow"))["activityArn"]
    clocks = {"TimeoutSeconds": 100, "HeartbeatSeconds": 5} if heartbeat else {"TimeoutSeconds": 5}
    machine = await create_machine(
        sfn,
        {
            "StartAt": "Work",
            "States": {
                "Work": {
                    "Type": "Task",
                    "Resource": activity,
                    "End": True,
                    **clocks,
                    "Catch": [{"ErrorEquals": errors, "ResultPath": "$.error", "Next": "Handled"}],
                },
                "Handled": {"Type": "Pass", "End": True},
            },
        },
    )
    arn, _ = await _start_and_poll(sfn, activity, machine, '{"keep": 1}')

    described = await wait_closed(sfn, arn)
    if caught:
        assert described["status"] == "SUCCEEDED"
        assert json.loads(described["output"]) == {"keep": 1, "error": {"Error": "States.Timeout"}}
    else:
        assert (described["status"], described["error"]) == ("FAILED", "States.Timeout")


async def test_retry_after_a_timeout_counts_retries(sfn: Any) -> None:
    activity = (await sfn.create_activity(name="flaky"))["activityArn"]
    machine = await create_machine(
        sfn,
        {
            "StartAt": "Work",
            "States": {
                "Work": {
                    "Type": "Task",
                    "Resource": activity,
                    "End": True,
                    "HeartbeatSeconds": 30,
                    "Parameters": {"attempt.$": "$$.State.RetryCount", "name.$": "$$.State.Name"},
                    "Retry": [
                        {
                            "ErrorEquals": ["States.HeartbeatTimeout"],
                            "IntervalSeconds": 1,
                            "MaxAttempts": 2,
                        }
                    ],
                }
            },
        },
    )
    arn = (await sfn.start_execution(stateMachineArn=machine))["executionArn"]
    first = await sfn.get_activity_task(activityArn=activity)
    assert json.loads(first["input"]) == {"attempt": 0, "name": "Work"}
    second = await sfn.get_activity_task(activityArn=activity)  # after the heartbeat timeout
    assert json.loads(second["input"]) == {"attempt": 1, "name": "Work"}
    await sfn.send_task_success(taskToken=second["taskToken"], output='"second time lucky"')

    described = await wait_closed(sfn, arn)
    assert described["status"] == "SUCCEEDED"
    types = [e["type"] for e in await events(sfn, arn)]
    assert types.count("ActivityScheduled") == 2
    assert types.count("ActivityTimedOut") == 1
    assert types.count("TaskStateEntered") == 1


async def test_worker_failures_retry_with_backoff_then_catch(sfn: Any) -> None:
    activity = (await sfn.create_activity(name="failing"))["activityArn"]
    machine = await create_machine(
        sfn,
        {
            "StartAt": "Work",
            "States": {
                "Work": {
                    "Type": "Task",
                    "Resource": activity,
                    "End": True,
                    "Retry": [
                        {
                            "ErrorEquals": ["Boom"],
                            "IntervalSeconds": 10,
                            "BackoffRate": 2,
                            "MaxAttempts": 2,
                        }
                    ],
                    "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Failed"}],
                },
                "Failed": {"Type": "Fail", "Error": "Gave up"},
            },
        },
    )
    arn = (await sfn.start_execution(stateMachineArn=machine))["executionArn"]
    for _ in range(3):
        token = (await sfn.get_activity_task(activityArn=activity))["taskToken"]
        await sfn.send_task_failure(taskToken=token, error="Boom", cause="kaput")

    described = await wait_closed(sfn, arn)
    assert (described["status"], described["error"]) == ("FAILED", "Gave up")
    history = await events(sfn, arn)
    # The waits on the endpoint's own clock, from each failure to the next scheduling: 10 s
    # then 20 s of service time, 0.1 s and 0.2 s at this time scale. A busy machine can only
    # make them longer (the timestamps are rounded to the millisecond on the wire).
    failed_at = [e["timestamp"] for e in history if e["type"] == "ActivityFailed"]
    scheduled_at = [e["timestamp"] for e in history if e["type"] == "ActivityScheduled"]
    waits = [(s - f).total_seconds() for f, s in zip(failed_at, scheduled_at[1:], strict=False)]
    assert len(waits) == 2
    assert waits[0] >= 0.1 - 0.002
    assert waits[1] >= 0.2 - 0.002
    failed = [e["activityFailedEventDetails"] for e in history if e["type"] == "ActivityFailed"]
    assert failed == [{"error": "Boom", "cause": "kaput"}] * 3
    assert [e["type"] for e in history[-3:]] == [
        "TaskStateExited",
        "FailStateEntered",
        "ExecutionFailed",
    ]


async def test_uncaught_worker_failure_passes_error_and_cause(sfn: Any) -> None:
    activity, machine = await machine_with_task(sfn)
    arn, token = await _start_and_poll(sfn, activity, machine)
    await sfn.send_task_failure(taskToken=token, error="Programmatic Error", cause="it broke")
    described = await wait_closed(sfn, arn)
    assert (described["status"], described["error"], described["cause"]) == (
        "FAILED",
        "Programmatic Error",
        "it broke",
    )
    assert (await events(sfn, arn))[-1]["executionFailedEventDetails"] == {
        "error": "Programmatic Error",
        "cause": "it broke",
    }


async def test_execution_timeout(sfn: Any) -> None:
    activity = (await sfn.create_activity(name="never"))["activityArn"]
    machine = await create_machine(
        sfn,
        {
            "StartAt": "Work",
            "TimeoutSeconds": 10,
            "States": {"Work": {"Type": "Task", "Resource": activity, "End": True}},
        },
    )
    arn, token = await _start_and_poll(sfn, activity, machine)
    described = await wait_closed(sfn, arn)
    assert described["status"] == "TIMED_OUT"
    assert (await events(sfn, arn))[-1]["type"] == "ExecutionTimedOut"
    with pytest.raises(ClientError) as caught:
        await sfn.send_task_heartbeat(taskToken=token)
    assert code_of(caught.value) == "TaskTimedOut"


async def _failure_gaps(sfn: Any, retry: dict[str, Any], failures: int) -> list[float]:
    """Fail the task `failures` times; return the seconds each retry waited.

    The waits are read from the endpoint's own clock, from each ActivityFailed to the next
    ActivityScheduled, so a busy machine can only make them longer. A retry that does not come
    within 30 s fails the test.
    """
    activity = (await sfn.create_activity(name="retried"))["activityArn"]
    machine = await create_machine(
        sfn,
        {
            "StartAt": "Work",
            "States": {
                "Work": {
                    "Type": "Task",
                    "Resource": activity,
                    "End": True,
                    "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": failures, **retry}],
                }
            },
        },
    )
    arn = (await sfn.start_execution(stateMachineArn=machine))["executionArn"]

    async def next_token() -> str:
        async with asyncio.timeout(30):
            while True:  # a poll held past its 2 s comes back empty: poll again
                answer = await sfn.get_activity_task(activityArn=activity)
                if "taskToken" in answer:
                    return str(answer["taskToken"])

    token = await next_token()
    for _ in range(failures):
        await sfn.send_task_failure(taskToken=token, error="Again")
        token = await next_token()
    history = await events(sfn, arn)
    failed = [e["timestamp"] for e in history if e["type"] == "ActivityFailed"]
    scheduled = [e["timestamp"] for e in history if e["type"] == "ActivityScheduled"]
    return [(s - f).total_seconds() for f, s in zip(failed, scheduled[1:], strict=True)]


#: The history's timestamps go over the wire in milliseconds.
STAMP = 0.002


async def test_max_delay_caps_the_backoff(sfn: Any) -> None:
    # Uncapped, the second delay would be 10,000 s (100 s here): far past the 30 s the test
    # waits for the retry, so its coming at all shows the cap.
    retry = {"IntervalSeconds": 10, "BackoffRate": 1000, "MaxDelaySeconds": 15}
    first, second = await _failure_gaps(sfn, retry, 2)
    assert first >= 0.10 - STAMP  # 10 s
    assert second >= 0.15 - STAMP  # 15 s


@pytest.mark.emulator_options(time_scale=100.0, seed=11)
async def test_full_jitter_draws_from_the_seeded_randomness(sfn: Any) -> None:
    retry = {"IntervalSeconds": 50, "BackoffRate": 1, "JitterStrategy": "FULL"}
    gaps = await _failure_gaps(sfn, retry, 3)
    draws = random.Random(11)
    expected = [draws.uniform(0, 50) / 100 for _ in range(3)]  # 0.23 s, 0.28 s, 0.46 s
    # What the endpoint decides, exactly: the retrier's delays drawn from the seeded stream.
    retrier = Retrier(("States.ALL",), interval_seconds=50, backoff_rate=1, full_jitter=True)
    decided = random.Random(11)
    assert [retrier.delay(n, decided) / 100 for n in range(3)] == expected
    # ... and the waits it kept on its own clock: never shorter (a busy machine only adds).
    for gap, wanted in zip(gaps, expected, strict=True):
        assert gap >= wanted - STAMP
