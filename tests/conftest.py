"""Fixtures shared by every test package: dummy AWS credentials and a local Step Functions endpoint.

Custom endpoint options for one test: ``@pytest.mark.emulator_options(time_scale=100)``; they
apply to the ``emulator``, ``emulator_thread`` and ``shared_emulator`` fixtures.

Which endpoint to take:

* ``emulator`` (with ``sfn``): a fresh endpoint serving in the test's own event loop; the test
  can reach into it (``emulator.stats``, ``emulator.options``, outages).
* ``shared_emulator`` (with ``shared_sfn``): one endpoint per test module, in a thread of its
  own, reset to an empty endpoint with the test's options before each test. For modules of
  many tests, and for synchronous clients and subprocesses.
* ``emulator_thread``: a fresh endpoint in a thread, for a test that blocks its event loop.

AWS clients come from one session per test process (``support.aws``), so the service models
are read once, not once per test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from aiobotocore.config import AioConfig
from support import aws

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
    return aws.sfn_config(**overrides)


@pytest.fixture
def make_sfn(emulator: Emulator) -> Callable[..., AbstractAsyncContextManager[Any]]:
    """Build more aioboto3 clients against ``emulator``, with config overrides.

    ``async with make_sfn(retries={"mode": "standard", "max_attempts": 5}) as client:``
    """

    def build(region: str = TEST_REGION, **config: Any) -> AbstractAsyncContextManager[Any]:
        return aws.sfn_client(emulator.endpoint_url, region, sfn_config(**config))

    return build


@pytest.fixture
async def sfn(make_sfn: Callable[..., AbstractAsyncContextManager[Any]]) -> AsyncIterator[Any]:
    """A real aioboto3 `stepfunctions` client against the ``emulator`` endpoint."""
    async with make_sfn() as client:
        yield client


@pytest.fixture(scope="module")
def module_emulator() -> Iterator[ThreadedEmulator]:
    """The endpoint of ``shared_emulator``: one per test module, on its own thread and loop.

    Its own event loop lets tests of any loop scope (and synchronous code) use it.
    """
    with Emulator.in_thread(EmulatorOptions(**FAST_OPTIONS)) as emu:
        yield emu


@pytest.fixture
def shared_emulator(
    aws_credentials: None, module_emulator: ThreadedEmulator, emulator_options: EmulatorOptions
) -> ThreadedEmulator:
    """The module's endpoint, emptied and set to this test's options (see `Emulator.reset`)."""
    module_emulator.reset()
    module_emulator.options.update(emulator_options.as_dict())
    return module_emulator


@pytest.fixture
async def shared_sfn(shared_emulator: ThreadedEmulator) -> AsyncIterator[Any]:
    """A real aioboto3 `stepfunctions` client against ``shared_emulator``."""
    async with aws.sfn_client(shared_emulator.endpoint_url, TEST_REGION, sfn_config()) as client:
        yield client
