"""One API call as operations see it: parameters, caller's region, and a way to answer later."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from fleet.emulator._arns import region_of

if TYPE_CHECKING:
    from fleet.emulator._runtime import Runtime


class Responder(Protocol):
    """The connection a call came in on."""

    closed: bool
    """True once the client has gone away."""
    poll: Any
    """The long poll waiting on this connection, if any (told when the client goes away)."""

    def respond(self, status: int, body: bytes) -> None:
        """Send the answer to the call (ignored if the connection has closed)."""


class Call:
    """Inputs of one operation."""

    __slots__ = ("_authorization", "_region", "params", "responder", "runtime")

    def __init__(
        self,
        runtime: Runtime,
        params: dict[str, Any],
        authorization: str | None,
        responder: Responder,
    ) -> None:
        self.runtime = runtime
        self.params = params
        self.responder = responder
        self._authorization = authorization
        self._region: str | None = None

    @property
    def region(self) -> str:
        """The region of the request's SigV4 credential scope (us-east-1 when unsigned)."""
        if self._region is None:
            self._region = region_of(self._authorization)
        return self._region

    @property
    def account(self) -> str:
        """The account id every ARN carries."""
        return self.runtime.options.account_id
