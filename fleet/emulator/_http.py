"""HTTP/1.1 server on `asyncio.Protocol` and httptools: keep-alive, pipelining, disconnects.

Reading is never paused, so a client that goes away while its long poll is held is noticed at
once (`connection_lost`/`eof_received`); its poll then keeps its place and takes a task nobody
will read, as on AWS (lost-poll mode, the default), or leaves the line (`lost_polls=False`).
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import Callable
from typing import Any

import httptools

from fleet.emulator._api import Api
from fleet.emulator._stats import EmulatorStats

MAX_REQUEST_BYTES = 1024 * 1024
_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    404: b"Not Found",
    413: b"Payload Too Large",
    500: b"Internal Server Error",
    503: b"Service Unavailable",
}
_ID_PREFIX = "-".join(secrets.token_hex(n) for n in (4, 2, 2, 2)).encode()

Admin = Callable[["HttpConnection", bytes, str, bytes], None]
"""Handler of `/_emulator/...` requests: (connection, method, path, body)."""
Pages = Callable[["HttpConnection", bytes, str], None]
"""Handler of the console's `/console...` pages: (connection, method, path)."""

_Request = tuple[bytes, str, str | None, str | None, bytes, bool]
"""A parsed request: method, path, X-Amz-Target, Authorization, body, keep-alive."""


class HttpConnection(asyncio.Protocol):
    """One client connection; answers requests strictly in the order they arrived."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._target: str | None = None
        self._auth: str | None = None
        self._body: list[bytes] = []
        self._size = 0
        self._busy = False
        self._keep_alive = True
        self._queue: deque[_Request] = deque()
        self.closed = False
        self.poll: Any = None

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server.connections.add(self)
        self._server.stats.connections_opened += 1

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail(400, b'{"__type":"BadRequest","message":"Malformed HTTP request"}')

    def eof_received(self) -> bool:
        # A client that half-closes is treated as gone: its held poll must not take a task.
        self._gone()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._gone()
        self._server.connections.discard(self)

    # -- httptools callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._target = self._auth = None
        self._body = []
        self._size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        lower = name.lower()
        if lower == b"x-amz-target":
            self._target = value.decode("latin-1")
        elif lower == b"authorization":
            self._auth = value.decode("latin-1")
        elif lower == b"expect" and value.lower() == b"100-continue" and self._transport:
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size <= MAX_REQUEST_BYTES:
            self._body.append(body)

    def on_message_complete(self) -> None:
        body = b"".join(self._body)
        method = self._parser.get_method()
        keep_alive = self._parser.should_keep_alive()
        if self._size > MAX_REQUEST_BYTES:
            method = b"TOO-LARGE"
        request = (method, self._url.decode("latin-1"), self._target, self._auth, body, keep_alive)
        if self._busy:
            self._queue.append(request)
        else:
            self._dispatch(request)

    # -- answering ------------------------------------------------------------------------------

    def _dispatch(self, request: _Request) -> None:
        method, path, target, auth, body, keep_alive = request
        self._busy = True
        self._keep_alive = keep_alive
        if path.startswith("/_emulator/"):
            self._server.admin(self, method, path, body)
        elif self._server.pages is not None and path.startswith("/console"):
            self._server.pages(self, method, path)
        elif method == b"TOO-LARGE":
            self._fail(413, b'{"__type":"RequestEntityTooLarge","message":"Request too large"}')
        else:
            self._server.api.handle(self, target, body, auth)

    def respond(
        self, status: int, body: bytes, content_type: bytes = b"application/x-amz-json-1.0"
    ) -> None:
        """Send one answer, then serve the next pipelined request, if any."""
        transport = self._transport
        if self.closed or transport is None:
            return
        server = self._server
        server.request_count += 1
        head = b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\n" % (
            status,
            _REASONS.get(status, b"Error"),
            content_type,
        )
        transport.write(
            b"%sx-amzn-RequestId: %s-%012x\r\nContent-Length: %d\r\n%s\r\n%s"
            % (
                head,
                _ID_PREFIX,
                server.request_count,
                len(body),
                b"" if self._keep_alive else b"Connection: close\r\n",
                body,
            )
        )
        self._busy = False
        if not self._keep_alive:
            self.closed = True
            transport.close()
        elif self._queue:
            self._dispatch(self._queue.popleft())

    def drop(self) -> None:
        """Close the connection at once (reset), with no answer."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.abort()
        self._gone()

    def _fail(self, status: int, body: bytes) -> None:
        self._keep_alive = False
        self._busy = True
        self.respond(status, body)

    def _gone(self) -> None:
        if not self.closed:
            self.closed = True
            poll, self.poll = self.poll, None
            if poll is not None:
                poll.disconnected()


class HttpServer:
    """The listening socket and every open connection."""

    def __init__(self, api: Api, admin: Admin, stats: EmulatorStats) -> None:
        self.api = api
        self.admin = admin
        self.pages: Pages | None = None
        self.stats = stats
        self.connections: set[HttpConnection] = set()
        self.request_count = 0
        self._server: asyncio.Server | None = None

    async def listen(self, host: str, port: int) -> int:
        """Start listening; return the bound port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: HttpConnection(self), host, port, reuse_address=True, backlog=4096
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and reset every open connection (held polls included)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for conn in list(self.connections):
            conn.drop()
        if server is not None:
            await server.wait_closed()
