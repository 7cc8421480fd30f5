"""A minimal asyncio client for the Step Functions JSON protocol, with no botocore.

It is the floor that worker benchmarks compare against: HTTP/1.1 keep-alive connections in a
small pool, one request per connection at a time, JSON in and out, nothing else. Requests are
not signed: the local endpoint checks the form of the Authorization header but cannot verify
the signature, so a well-formed header with a dummy signature carries the credential scope
(the endpoint builds ARNs in `region`).

    async with RawClient("http://127.0.0.1:8083") as sfn:
        arn = (await sfn.create_activity("work"))["activityArn"]
        task = await sfn.get_activity_task(arn)
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import httptools
from _harness import unsigned_authorization


class RawClientError(Exception):
    """The endpoint answered with an error (`code` is the `__type` after `#`)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code} ({status}): {message}")
        self.status = status
        self.code = code
        self.message = message


class _Connection(asyncio.Protocol):
    """One keep-alive connection; `request` may be awaited by one caller at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.body: list[bytes] = []
        self.closed = False
        self.deadline = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.fail(ConnectionError(f"bad HTTP response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.fail(ConnectionError("connection closed before the response"))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if not self.parser.should_keep_alive():
            self.closed = True
        waiter, self.waiter = self.waiter, None
        body, self.body = b"".join(self.body), []
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), body))

    def fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    async def request(self, head: bytes, body: bytes, deadline: float) -> tuple[int, bytes]:
        assert self.transport is not None
        self.deadline = deadline
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(head + body)
        return await self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class RawClient:
    """Step Functions calls over a pool of at most `pool_size` keep-alive connections."""

    def __init__(
        self,
        endpoint_url: str,
        *,
        region: str = "us-east-1",
        pool_size: int = 64,
        timeout: float = 70.0,
    ) -> None:
        parts = urlsplit(endpoint_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.timeout = timeout
        """Seconds one call may take; above the 60 s long poll, as workers should set it."""
        self._idle: deque[_Connection] = deque()
        self._slots = asyncio.Semaphore(pool_size)
        self._busy: set[_Connection] = set()
        self._heads: dict[str, bytes] = {}
        # One periodic sweep enforces every call's deadline; a timer per call would cost more
        # than the rest of the call.
        self._sweeper: asyncio.TimerHandle | None = None
        self._prefix = (
            "POST / HTTP/1.1\r\n"
            f"Host: {self.host}:{self.port}\r\n"
            "Content-Type: application/x-amz-json-1.0\r\n"
            f"Authorization: {unsigned_authorization('RAWCLIENT', region)}\r\n"
            "X-Amz-Target: AWSStepFunctions."
        ).encode()

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every connection, idle or busy."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in [*self._idle, *self._busy]:
            conn.close()
        self._idle.clear()
        self._busy.clear()

    async def _connection(self) -> _Connection:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(_Connection, self.host, self.port)
        return conn

    def _sweep(self) -> None:
        now = asyncio.get_running_loop().time()
        for conn in list(self._busy):
            if conn.waiter is not None and now > conn.deadline:
                conn.fail(TimeoutError(f"no answer within {self.timeout} s"))
                conn.close()
        self._sweeper = (
            asyncio.get_running_loop().call_later(1.0, self._sweep) if self._busy else None
        )

    async def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """One API call; returns the decoded answer or raises RawClientError / OSError.

        A call without an answer after `timeout` seconds raises TimeoutError.
        """
        body = json.dumps(params).encode()
        prefix = self._heads.get(operation)
        if prefix is None:
            prefix = self._heads[operation] = self._prefix + operation.encode()
        head = b"%s\r\nContent-Length: %d\r\n\r\n" % (prefix, len(body))
        loop = asyncio.get_running_loop()
        async with self._slots:
            conn = await self._connection()
            self._busy.add(conn)
            if self._sweeper is None:
                self._sweeper = loop.call_later(1.0, self._sweep)
            try:
                status, answer = await conn.request(head, body, loop.time() + self.timeout)
            except BaseException:
                # A connection with a request in flight cannot be reused (e.g. a cancelled poll).
                conn.close()
                raise
            finally:
                self._busy.discard(conn)
            if not conn.closed:
                self._idle.append(conn)
        decoded: dict[str, Any] = json.loads(answer) if answer else {}
        if status != 200:
            code = str(decoded.get("__type", "Unknown")).rsplit("#", 1)[-1]
            raise RawClientError(status, code, str(decoded.get("message", "")))
        return decoded

    # -- the calls benchmarks and tests use -------------------------------------------------------

    async def create_activity(self, name: str) -> dict[str, Any]:
        return await self.call("CreateActivity", {"name": name})

    async def delete_activity(self, activity_arn: str) -> dict[str, Any]:
        return await self.call("DeleteActivity", {"activityArn": activity_arn})

    async def create_state_machine(
        self, name: str, definition: str | dict[str, Any], role_arn: str
    ) -> dict[str, Any]:
        text = definition if isinstance(definition, str) else json.dumps(definition)
        return await self.call(
            "CreateStateMachine", {"name": name, "definition": text, "roleArn": role_arn}
        )

    async def start_execution(
        self, state_machine_arn: str, input: str | None = None, name: str | None = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"stateMachineArn": state_machine_arn}
        if input is not None:
            params["input"] = input
        if name is not None:
            params["name"] = name
        return await self.call("StartExecution", params)

    async def describe_execution(self, execution_arn: str) -> dict[str, Any]:
        return await self.call("DescribeExecution", {"executionArn": execution_arn})

    async def stop_execution(self, execution_arn: str, **fields: str) -> dict[str, Any]:
        return await self.call("StopExecution", {"executionArn": execution_arn, **fields})

    async def list_executions(self, state_machine_arn: str, **fields: Any) -> dict[str, Any]:
        return await self.call("ListExecutions", {"stateMachineArn": state_machine_arn, **fields})

    async def get_execution_history(self, execution_arn: str, **fields: Any) -> dict[str, Any]:
        return await self.call("GetExecutionHistory", {"executionArn": execution_arn, **fields})

    async def get_activity_task(
        self, activity_arn: str, worker_name: str | None = None
    ) -> dict[str, Any]:
        """A task (`taskToken`, `input`) or `{}` when the long poll ends empty."""
        params = {"activityArn": activity_arn}
        if worker_name is not None:
            params["workerName"] = worker_name
        return await self.call("GetActivityTask", params)

    async def send_task_success(self, task_token: str, output: str) -> dict[str, Any]:
        return await self.call("SendTaskSuccess", {"taskToken": task_token, "output": output})

    async def send_task_failure(
        self, task_token: str, error: str | None = None, cause: str | None = None
    ) -> dict[str, Any]:
        params = {"taskToken": task_token}
        if error is not None:
            params["error"] = error
        if cause is not None:
            params["cause"] = cause
        return await self.call("SendTaskFailure", params)

    async def send_task_heartbeat(self, task_token: str) -> dict[str, Any]:
        return await self.call("SendTaskHeartbeat", {"taskToken": task_token})
