"""Fixtures shared by every test package: dummy AWS credentials and a local Step Functions endpoint.

Custom endpoint options for one test: ``@pytest.mark.emulator_options(time_scale=100)``; they
apply to the ``emulator`` and ``emulator_thread`` fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import aioboto3
import pytest
from aiobotocore.config import AioConfig

from fleet.emulator import Emulator, EmulatorOptions, ThreadedEmulator

TEST_REGION = "us-east-1"

#: Defaults for fast tests: service clocks run ten times faster and long polls are held 2 s.
#: Throttling is off because tests poll DescribeExecution far above its 15-per-second refill;
#: the tests of throttling turn it on. Every other option keeps AWS's behaviour.
FAST_OPTIONS: dict[str, Any] = {"time_scale": 10.0, "long_poll_seconds": 2.0, "throttle": None}


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and region, and no shared AWS files, so no real account is reachable."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", TEST_REGION)
    monkeypatch.setenv("AWS_REGION", TEST_REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def emulator_options(request: pytest.FixtureRequest) -> EmulatorOptions:
    """FAST_OPTIONS, overridden by the test's ``emulator_options`` marker if any."""
    marker = request.node.get_closest_marker("emulator_options")
    overrides = marker.kwargs if marker else {}
    return EmulatorOptions(**{**FAST_OPTIONS, **overrides})


@pytest.fixture
async def emulator(
    aws_credentials: None, emulator_options: EmulatorOptions
) -> AsyncIterator[Emulator]:
    """A local endpoint on a free port, serving in the test's event loop."""
    async with Emulator(emulator_options) as emu:
        yield emu


@pytest.fixture
def emulator_thread(
    aws_credentials: None, emulator_options: EmulatorOptions
) -> Iterator[ThreadedEmulator]:
    """A local endpoint on its own event loop in a thread, for synchronous clients."""
    with Emulator.in_thread(emulator_options) as emu:
        yield emu


def sfn_config(**overrides: Any) -> AioConfig:
    """Client config for tests: read timeout above the long poll, no retries unless asked."""
    settings: dict[str, Any] = {"read_timeout": 70, "retries": {"max_attempts": 0}}
    return AioConfig(**{**settings, **overrides})


@pytest.fixture
def make_sfn(emulator: Emulator) -> Callable[..., AbstractAsyncContextManager[Any]]:
    """Build more aioboto3 clients against ``emulator``, with config overrides.

    ``async with make_sfn(retries={"mode": "standard", "max_attempts": 5}) as client:``
    """

    def build(region: str = TEST_REGION, **config: Any) -> AbstractAsyncContextManager[Any]:
        session = aioboto3.Session()
        return session.client(
            "stepfunctions",
            endpoint_url=emulator.endpoint_url,
            region_name=region,
            config=sfn_config(**config),
        )

    return build


@pytest.fixture
async def sfn(make_sfn: Callable[..., AbstractAsyncContextManager[Any]]) -> AsyncIterator[Any]:
    """A real aioboto3 `stepfunctions` client against the ``emulator`` endpoint."""
    async with make_sfn() as client:
        yield client
