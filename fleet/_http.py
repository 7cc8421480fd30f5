"""The worker's one HTTP listener: ``/metrics``, ``/healthz`` and ``/readyz``, GET only."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import anyio
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from fleet._errors import ConfigurationError
from fleet._logging import get_logger

_log = get_logger("http")


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def make_app(
    registry: CollectorRegistry,
    *,
    ready: Callable[[], bool],
    readiness: Callable[[], dict[str, Any]],
    health: Callable[[], dict[str, Any]],
    on_scrape: Callable[[], None] | None = None,
) -> web.Application:
    """The listener's routes; anything but GET/HEAD on them is 405, anything else 404.

    ``on_scrape`` is called after each answer of ``/metrics``.
    """

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(registry)
        if on_scrape is not None:
            on_scrape()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        # Answering at all proves the event loop runs.
        return _json(200, {"status": "ok", **health()})

    async def readyz(_: web.Request) -> web.Response:
        is_ready = ready()
        return _json(200 if is_ready else 503, {"ready": is_ready, **readiness()})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def serve_http(
    app: web.Application,
    host: str,
    port: int,
    *,
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` until cancelled; reports the bound port to ``task_status``."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:  # port taken, address not local, name not resolved
            # aiohttp rewords the error; a failed name lookup has a negative errno.
            errno = exc.errno or 0
            reason = os.strerror(errno) if errno > 0 else (exc.strerror or str(exc))
            raise ConfigurationError(
                f"cannot listen on {host}:{port} for /metrics, /healthz and /readyz ({reason}); "
                "set FLEET_METRICS_HOST/FLEET_METRICS_PORT (port 0 picks a free one)"
            ) from None
        # The runner's public list of bound addresses holds the real port when 0 was asked.
        addresses = runner.addresses
        bound = int(addresses[0][1]) if addresses else port
        _log.info(
            "listening",
            extra={"url": f"http://{host}:{bound}", "paths": "/metrics /healthz /readyz"},
        )
        task_status.started(bound)
        await anyio.sleep_forever()
    finally:
        with anyio.CancelScope(shield=True):
            await runner.cleanup()
