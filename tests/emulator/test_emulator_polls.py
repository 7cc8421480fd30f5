"""Long polls: held, woken at once, served first come first served, and clients that go away."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from emulator_support import SIGNED, events, machine_with_task, raw_call, until, wait_closed

from fleet.emulator import Emulator

TARGET = "AWSStepFunctions.GetActivityTask"


@pytest.mark.emulator_options(long_poll_seconds=0.3)
async def test_empty_poll_is_held_then_answers_without_a_token(
    sfn: Any, emulator: Emulator
) -> None:
    activity = (await sfn.create_activity(name="idle"))["activityArn"]
    loop = asyncio.get_running_loop()
    began = loop.time()
    answer = await sfn.get_activity_task(activityArn=activity)
    assert loop.time() - began >= 0.3
    assert "taskToken" not in answer
    assert "input" not in answer

    status, body = await raw_call(
        emulator.endpoint_url, TARGET, json.dumps({"activityArn": activity}).encode()
    )
    assert (status, body) == (200, {})


async def test_waiting_poll_is_woken_when_a_task_is_scheduled(sfn: Any, emulator: Emulator) -> None:
    emulator.options.long_poll_seconds = 30
    activity, machine = await machine_with_task(sfn)
    poll = asyncio.create_task(sfn.get_activity_task(activityArn=activity, workerName="w"))
    await until(lambda: emulator.snapshot()["polls_waiting"] == 1)

    await sfn.start_execution(stateMachineArn=machine, input='{"wake": true}')
    # A poll that was not woken would answer empty when its 30 s hold ends.
    task = await poll
    assert json.loads(task["input"]) == {"wake": True}


async def test_polls_are_served_in_arrival_order(sfn: Any, emulator: Emulator) -> None:
    activity, machine = await machine_with_task(sfn)
    polls = []
    for index in range(3):
        polls.append(asyncio.create_task(sfn.get_activity_task(activityArn=activity)))
        await until(lambda n=index: emulator.snapshot()["polls_waiting"] == n + 1)
    for index in range(3):
        await sfn.start_execution(stateMachineArn=machine, input=json.dumps({"n": index}))
    answers = await asyncio.gather(*polls)
    assert [json.loads(a["input"])["n"] for a in answers] == [0, 1, 2]


async def test_queued_tasks_are_handed_out_oldest_first(sfn: Any) -> None:
    activity, machine = await machine_with_task(sfn)
    for index in range(5):
        await sfn.start_execution(stateMachineArn=machine, input=json.dumps({"n": index}))
    seen = []
    for _ in range(5):
        task = await sfn.get_activity_task(activityArn=activity)
        seen.append(json.loads(task["input"])["n"])
    assert seen == [0, 1, 2, 3, 4]


async def _abandoned_poll(emulator: Emulator, activity: str) -> None:
    """Send a GetActivityTask and close the connection while it is held."""
    parts = urlsplit(emulator.endpoint_url)
    _reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    body = json.dumps({"activityArn": activity, "workerName": "gone"}).encode()
    writer.write(
        b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: %s\r\nAuthorization: %s\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (TARGET.encode(), SIGNED.encode(), len(body), body)
    )
    await until(lambda: emulator.snapshot()["polls_waiting"] == 1)
    writer.close()
    await writer.wait_closed()
    await until(lambda: emulator.stats.polls_abandoned == 1)


@pytest.mark.emulator_options(lost_polls=False)
async def test_closed_poll_does_not_take_a_task_without_lost_polls(
    sfn: Any, emulator: Emulator
) -> None:
    activity, machine = await machine_with_task(sfn)
    await _abandoned_poll(emulator, activity)
    assert emulator.snapshot()["polls_waiting"] == 0

    await sfn.start_execution(stateMachineArn=machine, input='{"kept": true}')
    task = await sfn.get_activity_task(activityArn=activity, workerName="alive")
    assert json.loads(task["input"]) == {"kept": True}
    assert emulator.stats.tasks_handed_to_closed_polls == 0


@pytest.mark.emulator_options(long_poll_seconds=0.5, time_scale=100.0)
async def test_by_default_a_closed_poll_takes_the_task_as_on_aws(
    sfn: Any, emulator: Emulator
) -> None:
    activity, machine = await machine_with_task(sfn, HeartbeatSeconds=10)
    await _abandoned_poll(emulator, activity)

    arn = (await sfn.start_execution(stateMachineArn=machine))["executionArn"]
    assert "taskToken" not in await sfn.get_activity_task(activityArn=activity)
    assert emulator.stats.tasks_handed_to_closed_polls == 1
    started = [e for e in await events(sfn, arn) if e["type"] == "ActivityStarted"]
    assert started[0]["activityStartedEventDetails"] == {"workerName": "gone"}
    # The lost task surfaces only through its heartbeat timeout, as on AWS.
    assert (await wait_closed(sfn, arn))["error"] == "States.Timeout"


@pytest.mark.emulator_options(lost_polls=False)
async def test_cancelled_client_poll_is_noticed(sfn: Any, emulator: Emulator) -> None:
    activity, machine = await machine_with_task(sfn)
    poll = asyncio.create_task(sfn.get_activity_task(activityArn=activity))
    await until(lambda: emulator.snapshot()["polls_waiting"] == 1)
    poll.cancel()
    with pytest.raises(asyncio.CancelledError):
        await poll
    await until(lambda: emulator.snapshot()["polls_waiting"] == 0)

    await sfn.start_execution(stateMachineArn=machine)
    assert "taskToken" in await sfn.get_activity_task(activityArn=activity)


@pytest.mark.emulator_options(lost_polls=False)
async def test_stopped_listening_drops_held_polls_but_keeps_state(
    sfn: Any, emulator: Emulator
) -> None:
    activity, machine = await machine_with_task(sfn)
    poll = asyncio.create_task(sfn.get_activity_task(activityArn=activity))
    await until(lambda: emulator.snapshot()["polls_waiting"] == 1)
    await emulator.stop_listening()
    with pytest.raises(Exception, match=r"(?i)disconnect|connection|closed"):
        await poll
    assert emulator.snapshot()["polls_waiting"] == 0
    await emulator.start_listening()

    arn = (await sfn.start_execution(stateMachineArn=machine))["executionArn"]
    task = await sfn.get_activity_task(activityArn=activity)
    await sfn.send_task_success(taskToken=task["taskToken"], output="{}")
    assert (await wait_closed(sfn, arn))["status"] == "SUCCEEDED"
