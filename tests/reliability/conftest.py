"""Fixtures of the fault matrix: a clean environment, fast service clocks, the tokens issued."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
from reliability_support import LONG_POLL_SECONDS, TIME_SCALE

from fleet.emulator import Emulator, EmulatorOptions
from fleet.emulator._tokens import TokenBook


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and no shared AWS files or FLEET_* settings from the caller."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("ECS_AGENT_URI", raising=False)
    for key in [k for k in os.environ if k.startswith("FLEET_")]:
        monkeypatch.delenv(key)


@pytest.fixture
def make_endpoint() -> Callable[..., AbstractAsyncContextManager[Emulator]]:
    """A local endpoint with fast clocks and other options: ``async with make_endpoint(...)``."""

    def build(**options: Any) -> AbstractAsyncContextManager[Emulator]:
        # The checks read every execution with DescribeExecution, far above its 15-a-second
        # refill: throttling is off unless a test turns it on. Other defaults stay AWS's.
        defaults = {
            "time_scale": TIME_SCALE,
            "long_poll_seconds": LONG_POLL_SECONDS,
            "throttle": None,
        }
        return Emulator(EmulatorOptions(**{**defaults, **options}))

    return build


@pytest.fixture
def issued_tokens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every task token the endpoints of this test hand out, to look for in the workers' logs."""
    tokens: list[str] = []
    issue = TokenBook.issue

    def recording(self: TokenBook[Any], record: Any) -> str:
        token = issue(self, record)
        tokens.append(token)
        return token

    monkeypatch.setattr(TokenBook, "issue", recording)
    return tokens
