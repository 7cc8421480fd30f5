"""aioboto3 clients for one Region (and endpoint), and helpers for AWS error codes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, TypeVar

import aioboto3
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.exceptions import BotoCoreError, ClientError
from botocore.loaders import Loader

from deploy.errors import DeployError

T = TypeVar("T")

# One loader for every session in the process: service models are parsed once, not per command.
_LOADER = Loader()

# Waits between retries of a call that failed because a role created moments ago has not
# reached every service yet (IAM is eventually consistent); about a minute in total.
PROPAGATION_DELAYS: tuple[float, ...] = (2, 3, 5, 8, 10, 12, 15)


class Aws:
    """Lazily opened aioboto3 clients sharing one session; use as an async context manager."""

    def __init__(
        self, region: str, endpoint_url: str | None = None, profile: str | None = None
    ) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        core = AioSession(profile=profile)
        core.register_component("data_loader", _LOADER)
        self._session = aioboto3.Session(region_name=region, botocore_session=core)
        self._exit = AsyncExitStack()
        self._clients: dict[str, Any] = {}
        self._account: str | None = None
        self._config = AioConfig(
            retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10, read_timeout=60
        )

    async def __aenter__(self) -> Aws:
        await self._exit.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._exit.__aexit__(exc_type, exc, tb)

    async def client(self, service: str) -> Any:
        """The client for ``service`` (an aiobotocore client), opened on first use."""
        if service not in self._clients:
            # A plain-HTTP endpoint (moto, a local emulator) needs no TLS context; building
            # one loads the CA bundle for every client.
            plain = bool(self.endpoint_url and self.endpoint_url.startswith("http://"))
            factory = self._session.client(
                service,
                endpoint_url=self.endpoint_url,
                config=self._config,
                **({"verify": False} if plain else {}),
            )
            self._clients[service] = await self._exit.enter_async_context(factory)
        return self._clients[service]

    async def account(self) -> str:
        """The account id of the credentials in use, looked up once.

        Raises DeployError if there are no usable credentials.
        """
        if self._account is None:
            sts = await self.client("sts")
            try:
                identity = await sts.get_caller_identity()
            except (ClientError, BotoCoreError) as exc:
                raise DeployError(f"cannot identify the AWS account: {exc}") from None
            self._account = str(identity["Account"])
        return self._account


def error_code(exc: ClientError) -> str:
    """The AWS error code of ``exc`` (e.g. ``AccessDeniedException``)."""
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def error_message(exc: ClientError) -> str:
    """The AWS error message of ``exc``."""
    return str(exc.response.get("Error", {}).get("Message", str(exc)))


async def absent_on(codes: tuple[str, ...], call: Awaitable[T]) -> T | None:
    """Await ``call``; None if it fails with one of ``codes`` (the resource does not exist)."""
    try:
        return await call
    except ClientError as exc:
        if error_code(exc) in codes:
            return None
        raise


def _role_not_ready(exc: ClientError) -> bool:
    message = error_message(exc).lower()
    return "assume" in message or ("role" in message and "not" in message and "valid" in message)


async def retry_role_propagation(call: Callable[[], Awaitable[T]]) -> T:
    """Run ``call``, retrying while the service cannot yet assume a freshly created role."""
    for delay in PROPAGATION_DELAYS:
        try:
            return await call()
        except ClientError as exc:
            if not _role_not_ready(exc):
                raise
        await asyncio.sleep(delay)
    return await call()
