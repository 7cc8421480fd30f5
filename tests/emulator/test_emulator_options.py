"""Testing aids: throttling, injected faults, latency, and the admin routes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from emulator_support import code_of, raw_call, until

from fleet.emulator import Emulator, EmulatorOptions


@pytest.mark.emulator_options(throttle="large")
async def test_throttling_uses_the_api_quota(sfn: Any, emulator: Emulator) -> None:
    # CreateActivity: a bucket of 100, refilled 1 per second on the endpoint's monotonic clock.
    # The calls go through as long as tokens last: the 100 of the bucket, plus at most one
    # for each second the calls took however busy the machine is.
    began = time.monotonic()
    created = 0
    while True:
        try:
            await sfn.create_activity(name=f"a{created}")
        except ClientError as error:
            caught = error
            break
        created += 1
    took = time.monotonic() - began
    assert 100 <= created <= 100 + took * 1
    assert caught.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert (code_of(caught), caught.response["Error"]["Message"]) == (
        "ThrottlingException",
        "Rate exceeded",
    )
    assert emulator.stats.throttled["CreateActivity"] == 1
    # Other APIs have buckets of their own.
    assert len((await sfn.list_activities(maxResults=1000))["activities"]) == created

    emulator.options.throttle = None
    await sfn.create_activity(name="one-too-many")


def test_other_regions_have_smaller_buckets() -> None:
    from fleet.emulator._throttle import quota

    assert quota("GetActivityTask", "large") == (3000, 500)
    assert quota("GetActivityTask", "other") == (1500, 300)
    assert quota("StartExecution", "other") == (800, 150)


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("500", 500, "InternalFailure"), ("503", 503, "ServiceUnavailableException")],
)
async def test_injected_server_errors(
    sfn: Any, emulator: Emulator, kind: str, status: int, code: str
) -> None:
    emulator.options.update({"fault_rate": 1.0, "fault_kinds": [kind]})
    with pytest.raises(ClientError) as caught:
        await sfn.list_activities()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert code_of(caught.value) == code
    assert emulator.stats.faults_injected[kind] == 1

    emulator.options.fault_rate = 0.0
    assert (await sfn.list_activities())["activities"] == []


async def test_dropped_connections(sfn: Any, emulator: Emulator) -> None:
    emulator.options.update({"fault_rate": 1.0, "fault_kinds": ["drop"]})
    with pytest.raises(Exception, match=r"(?i)disconnect|closed|connection"):
        await sfn.list_activities()
    assert emulator.stats.faults_injected["drop"] == 1


async def test_clients_retry_through_a_fault_rate(emulator: Emulator, make_sfn: Any) -> None:
    # With this seed the six calls meet exactly one 500 and one dropped connection.
    emulator.options.update({"fault_rate": 0.25, "fault_kinds": ["500", "drop"], "seed": 30})
    async with make_sfn(retries={"mode": "standard", "max_attempts": 10}) as client:
        for index in range(6):
            await client.create_activity(name=f"r{index}")
        assert emulator.stats.faults_injected == {"500": 1, "drop": 1}
        emulator.options.fault_rate = 0.0
        assert len((await client.list_activities())["activities"]) == 6


async def test_seeded_faults_are_reproducible() -> None:
    async def pattern(seed: int) -> list[int]:
        options = EmulatorOptions(fault_rate=0.5, fault_kinds=("500",), seed=seed)
        async with Emulator(options) as emu:
            return [
                (await raw_call(emu.endpoint_url, "AWSStepFunctions.ListActivities", b"{}"))[0]
                for _ in range(12)
            ]

    first = await pattern(3)
    assert first == await pattern(3)
    assert set(first) == {200, 500}


@pytest.mark.emulator_options(latency_seconds=0.2)
async def test_added_latency(sfn: Any) -> None:
    loop = asyncio.get_running_loop()
    began = loop.time()
    await sfn.list_activities()
    assert loop.time() - began >= 0.2


async def test_admin_stats_and_options(emulator: Emulator, sfn: Any) -> None:
    await sfn.create_activity(name="counted")
    status, stats = await raw_call(
        emulator.endpoint_url, None, b"", method="GET", path="/_emulator/stats"
    )
    assert status == 200
    assert stats["requests"] == {"CreateActivity": 1}
    assert stats["tasks_handed_to_closed_polls"] == 0

    status, options = await raw_call(
        emulator.endpoint_url,
        None,
        b'{"fault_rate": 1, "fault_kinds": ["503"]}',
        path="/_emulator/options",
    )
    assert (status, options["fault_rate"], options["fault_kinds"]) == (200, 1, ["503"])
    assert emulator.options.fault_rate == 1
    with pytest.raises(ClientError):
        await sfn.list_activities()
    # Admin calls are never faulted.
    for bad in (b'{"fault_rate": 2}', b'{"nope": 1}', b"[]"):
        status, answer = await raw_call(emulator.endpoint_url, None, bad, path="/_emulator/options")
        assert status == 400
        assert answer["__type"] == "ValidationException"
    assert emulator.options.fault_rate == 1


async def test_outage_refuses_connections_then_recovers(emulator: Emulator, sfn: Any) -> None:
    await sfn.create_activity(name="survivor")
    status, _ = await raw_call(
        emulator.endpoint_url, None, b'{"seconds": 0.3}', path="/_emulator/outage"
    )
    assert status == 200
    await until(lambda: not emulator.snapshot()["listening"])
    with pytest.raises(ConnectionRefusedError):
        await raw_call(emulator.endpoint_url, "AWSStepFunctions.ListActivities", b"{}")
    await until(lambda: emulator.snapshot()["listening"], seconds=3)
    names = [a["name"] for a in (await sfn.list_activities())["activities"]]
    assert names == ["survivor"]


def test_defaults_are_aws_behaviour() -> None:
    options = EmulatorOptions()
    assert options.as_dict() == {
        "time_scale": 1.0,
        "long_poll_seconds": 60.0,
        "throttle": "aws",
        "fault_rate": 0.0,
        "fault_kinds": ["500", "drop"],
        "latency_seconds": 0.0,
        "lost_polls": True,
        "max_pollers_per_activity": 1000,
        "account_id": "123456789012",
        "seed": None,
        "mock_config": None,
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("time_scale", 0),
        ("long_poll_seconds", -1),
        ("throttle", "huge"),
        ("fault_rate", 1.5),
        ("fault_kinds", []),
        ("fault_kinds", ["404"]),
        ("lost_polls", "yes"),
        ("max_pollers_per_activity", 0),
        ("account_id", "12"),
        ("seed", 1.5),
    ],
)
def test_invalid_options_are_refused(name: str, value: Any) -> None:
    options = EmulatorOptions()
    with pytest.raises(ValueError, match=f"emulator option {name} must be"):
        setattr(options, name, value)
    with pytest.raises(ValueError, match=name):
        options.update({"fault_rate": 0.5, name: value})
    assert options.fault_rate == 0.0  # an update that fails changes nothing
