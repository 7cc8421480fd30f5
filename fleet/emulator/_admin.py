"""Out-of-process control on the API port: `/_emulator/stats`, `/options`, `/outage`, `/reset`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fleet.emulator._emulator import Emulator
    from fleet.emulator._http import HttpConnection


def _reply(conn: HttpConnection, status: int, value: Any) -> None:
    conn.respond(status, json.dumps(value).encode())


def _bad(conn: HttpConnection, message: str) -> None:
    _reply(conn, 400, {"__type": "ValidationException", "message": message})


def handle(emulator: Emulator, conn: HttpConnection, method: bytes, path: str, body: bytes) -> None:
    """Serve one admin request; admin calls are never throttled, faulted or delayed."""
    route = path.split("?", 1)[0].rstrip("/")
    if method == b"GET" and route == "/_emulator/stats":
        _reply(conn, 200, emulator.snapshot())
        return
    if route == "/_emulator/options" and method in (b"GET", b"POST"):
        if method == b"POST":
            try:
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("the body must be a JSON object of options")
                emulator.options.update(changes)
            except (ValueError, AttributeError) as exc:
                _bad(conn, str(exc))
                return
        _reply(conn, 200, emulator.options.as_dict())
        return
    if method == b"POST" and route == "/_emulator/outage":
        try:
            seconds = json.loads(body or b"{}").get("seconds")
        except (ValueError, AttributeError):
            seconds = None
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            _bad(conn, 'the body must be {"seconds": <number >= 0>}')
            return
        _reply(conn, 200, {"seconds": seconds})
        emulator.begin_outage(float(seconds))
        return
    if method == b"POST" and route == "/_emulator/reset":
        emulator.reset()
        _reply(conn, 200, emulator.snapshot())
        return
    _reply(conn, 404, {"__type": "NotFound", "message": f"No admin route {path}"})
