"""Resetting a running endpoint: in process, over the admin route, and as the shared fixture."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from botocore.exceptions import ClientError
from emulator_support import code_of, machine_with_task, raw_call

from fleet.emulator import Emulator, ThreadedEmulator


@pytest.mark.emulator_options(throttle="large", long_poll_seconds=30.0)
async def test_reset_forgets_everything_and_answers_held_polls(
    emulator: Emulator, sfn: Any
) -> None:
    activity, machine = await machine_with_task(sfn)
    started = (await sfn.start_execution(stateMachineArn=machine))["executionArn"]
    token = (await sfn.get_activity_task(activityArn=activity))["taskToken"]
    idle = (await sfn.create_activity(name="idle"))["activityArn"]
    held = asyncio.ensure_future(sfn.get_activity_task(activityArn=idle))
    # Empty the CreateActivity bucket (100, refilled at 1 per second) until a call is refused.
    refused: ClientError | None = None
    for index in range(300):
        try:
            await sfn.create_activity(name=f"fill-{index}")
        except ClientError as error:
            refused = error
            break
    assert refused is not None, "the CreateActivity bucket never ran dry"
    assert code_of(refused) == "ThrottlingException"
    emulator.options.update({"fault_kinds": ["503"], "seed": 3})

    emulator.reset()

    # The poll held for 30 s is answered at once, with no task.
    assert "taskToken" not in await asyncio.wait_for(held, 5)
    assert (await sfn.list_activities())["activities"] == []
    assert (await sfn.list_state_machines())["stateMachines"] == []
    for call, params in (
        (sfn.describe_execution, {"executionArn": started}),
        (sfn.send_task_success, {"taskToken": token, "output": "{}"}),
    ):
        with pytest.raises(ClientError) as caught:
            await call(**params)
        assert code_of(caught.value) in ("ExecutionDoesNotExist", "InvalidToken")
    # The buckets are full again and the options are those the endpoint was created with.
    await sfn.create_activity(name="after-reset")
    assert emulator.options.fault_kinds == ("500", "drop")
    assert emulator.options.seed is None
    assert emulator.options.throttle == "large"
    assert emulator.stats.requests == {
        "ListActivities": 1,
        "ListStateMachines": 1,
        "DescribeExecution": 1,
        "SendTaskSuccess": 1,
        "CreateActivity": 1,
    }
    assert emulator.snapshot()["open_executions"] == 0


async def test_the_admin_route_resets(emulator: Emulator, sfn: Any) -> None:
    await sfn.create_activity(name="gone")
    emulator.options.fault_rate = 0.5
    status, stats = await raw_call(emulator.endpoint_url, None, b"", path="/_emulator/reset")
    assert status == 200
    assert stats["requests_total"] == 0
    assert emulator.options.fault_rate == 0.0
    assert (await sfn.list_activities())["activities"] == []
    status, answer = await raw_call(
        emulator.endpoint_url, None, b"", method="GET", path="/_emulator/reset"
    )
    assert (status, answer["__type"]) == (404, "NotFound")


@pytest.mark.parametrize("turn", ["first", "second"])
async def test_shared_endpoint_starts_each_test_empty(
    shared_emulator: ThreadedEmulator, shared_sfn: Any, turn: str
) -> None:
    # Both turns see the same endpoint, and neither sees what the other created.
    assert (await shared_sfn.list_activities())["activities"] == []
    await shared_sfn.create_activity(name=f"made-by-{turn}")
    shared_emulator.options.fault_rate = 0.1  # undone by the next test's reset
    assert shared_emulator.stats.requests["CreateActivity"] == 1


@pytest.mark.emulator_options(latency_seconds=0.05)
def test_shared_endpoint_takes_the_tests_options(shared_emulator: ThreadedEmulator) -> None:
    assert shared_emulator.options.latency_seconds == 0.05
    assert shared_emulator.options.fault_rate == 0.0
