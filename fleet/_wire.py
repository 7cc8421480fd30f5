"""The four calls a worker makes per task, straight over the AWS JSON 1.0 wire protocol.

GetActivityTask and SendTaskSuccess/Failure/Heartbeat are most of a worker's CPU. Through
botocore each costs several hundred microseconds of request building, signing and
user-agent assembly; here each is a JSON body, a SigV4 signature with a cached key, and one
aiohttp request on a pooled connection. Credentials still come from botocore's provider
chain (refreshed as it decides) and the endpoint from botocore's resolver, so this speaks to
the same place, as the same principal, as the rest of the worker.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from fleet._sigv4 import Credentials, Signer
from fleet._version import __version__

#: Operations that go over this path; everything else uses the aioboto3 client.
OPERATIONS = frozenset(
    {"GetActivityTask", "SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"}
)
_CONTENT_TYPE = "application/x-amz-json-1.0"
#: Heartbeats get connections of their own: queued behind a burst of reports or held long
#: polls in one shared pool, a beat's attempt timeout ran out before it was even sent.
_HEARTBEAT = "SendTaskHeartbeat"
_HEARTBEAT_CONNECTIONS = 32


class WireError(Exception):
    """An error answer from the service: its HTTP status, error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def error_code(body: dict[str, Any], header: str | None) -> str:
    """The error code of an AWS JSON error: ``__type`` (or the header) after any ``#``/``:``."""
    raw = str(body.get("__type") or body.get("code") or header or "Unknown")
    return raw.split(":", 1)[0].rsplit("#", 1)[-1]


class TaskCalls:
    """Signed calls to one Step Functions endpoint over a pooled aiohttp session."""

    def __init__(
        self,
        endpoint_url: str,
        region: str,
        credentials: Any,
        *,
        pool_size: int,
    ) -> None:
        parts = urlsplit(endpoint_url)
        self._url = f"{parts.scheme}://{parts.netloc}/"
        self._host = parts.netloc
        self._credentials = credentials
        self._signer = Signer("states", region)
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None
        self._beats: aiohttp.ClientSession | None = None
        # Calls wait for a connection here, not in aiohttp's pool, where the attempt's
        # timeout would already be running: tens of thousands of reports queued there all
        # timed out together and their failures blocked the loop for seconds.
        self._free = asyncio.Semaphore(pool_size)
        self._free_beats = asyncio.Semaphore(_HEARTBEAT_CONNECTIONS)
        self._user_agent = f"sfn-fleet/{__version__} aiohttp/{aiohttp.__version__}"

    async def __aenter__(self) -> TaskCalls:
        headers = ("User-Agent", "Content-Type")
        connector = aiohttp.TCPConnector(limit=self._pool_size, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(connector=connector, skip_auto_headers=headers)
        beats = aiohttp.TCPConnector(limit=_HEARTBEAT_CONNECTIONS, keepalive_timeout=30)
        self._beats = aiohttp.ClientSession(connector=beats, skip_auto_headers=headers)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for session in (self._session, self._beats):
            if session is not None:
                await session.close()
        self._session = self._beats = None

    async def call(self, operation: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Make one attempt; return the decoded answer, or raise WireError / aiohttp errors."""
        beat = operation == _HEARTBEAT
        session = self._beats if beat else self._session
        assert session is not None, "TaskCalls is used outside its async with block"
        free = self._free_beats if beat else self._free
        if free.locked():
            await asyncio.wait_for(free.acquire(), timeout)
        else:
            await free.acquire()
        try:
            return await self._post(session, operation, params, timeout)
        finally:
            free.release()

    async def _post(
        self, session: aiohttp.ClientSession, operation: str, params: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        body = json.dumps(params, separators=(",", ":")).encode()
        frozen = await self._credentials.get_frozen_credentials()
        headers = self._signer.headers(
            Credentials(frozen.access_key, frozen.secret_key, frozen.token),
            self._host,
            {"content-type": _CONTENT_TYPE, "x-amz-target": f"AWSStepFunctions.{operation}"},
            body,
        )
        headers["user-agent"] = self._user_agent
        async with session.post(
            self._url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            raw = await response.read()
            status = response.status
            error_header = response.headers.get("x-amzn-ErrorType")
        try:
            decoded: Any = json.loads(raw) if raw.strip() else {}
        except ValueError:
            decoded = None
        if status >= 300 or not isinstance(decoded, dict):
            answer = decoded if isinstance(decoded, dict) else {}
            message = str(
                answer.get("message") or answer.get("Message") or raw[:200].decode(errors="replace")
            )
            # A success status with a body that is not a JSON object is the service's fault.
            raise WireError(
                status if status >= 300 else 502, error_code(answer, error_header), message
            )
        return decoded
