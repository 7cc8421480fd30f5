"""Fixtures of the worker tests: credentials, a local endpoint, and a client to it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from support.worker import client

from fleet.emulator import Emulator, EmulatorOptions

#: Short long polls keep stops and drains quick; every other default is AWS's.
FAST = {"long_poll_seconds": 1.0}


@pytest.fixture(autouse=True)
def aws_env(aws_credentials: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials (the top-level fixture), and no FLEET_ settings or ECS agent leaking
    in from the environment the tests run in."""
    monkeypatch.delenv("ECS_AGENT_URI", raising=False)
    for key in [k for k in os.environ if k.startswith("FLEET_")]:
        monkeypatch.delenv(key)


@pytest.fixture
async def endpoint() -> AsyncIterator[Emulator]:
    """A local endpoint in this event loop, with short long polls."""
    async with Emulator(EmulatorOptions(**FAST)) as emu:
        yield emu


@pytest.fixture
def make_endpoint() -> Callable[..., AbstractAsyncContextManager[Emulator]]:
    """Build an endpoint with other options: ``async with make_endpoint(time_scale=4)``."""

    def build(**options: Any) -> AbstractAsyncContextManager[Emulator]:
        return Emulator(EmulatorOptions(**{**FAST, **options}))

    return build


@pytest.fixture
def endpoint_thread() -> Iterator[Any]:
    """A local endpoint on its own thread, for tests whose worker blocks the event loop."""
    with Emulator.in_thread(EmulatorOptions(**FAST)) as emu:
        yield emu


@pytest.fixture
async def sfn(endpoint: Emulator) -> AsyncIterator[Any]:
    """The real aioboto3 client against ``endpoint``."""
    async with client(endpoint.endpoint_url) as sfn:
        yield sfn
