"""One AWS session for the whole test run: clients made from it share its loaded API models.

Each fresh ``aioboto3.Session`` reads and parses botocore's service models again (about 60 ms
per client on the reference machine); a shared one does it once per process. Clients stay
per test, in the test's own event loop. Every test uses the same dummy credentials, so the
session caching the first ones it resolves is harmless.
"""

from __future__ import annotations

import functools
from typing import Any

import aioboto3
from aiobotocore.config import AioConfig

REGION = "us-east-1"


@functools.cache
def aws_session() -> aioboto3.Session:
    """The process-wide session (created on first use, after the test set credentials)."""
    return aioboto3.Session()


def sfn_config(**overrides: Any) -> AioConfig:
    """Client config for tests: read timeout above the long poll, no retries unless asked."""
    settings: dict[str, Any] = {"read_timeout": 70, "retries": {"max_attempts": 0}}
    return AioConfig(**{**settings, **overrides})


def sfn_client(endpoint_url: str, region: str = REGION, config: AioConfig | None = None) -> Any:
    """A real aioboto3 Step Functions client (an async context manager) for ``endpoint_url``.

    Without ``config`` the client has botocore's defaults, as a user's would.
    """
    return aws_session().client(
        "stepfunctions", endpoint_url=endpoint_url, region_name=region, config=config
    )
