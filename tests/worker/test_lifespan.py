"""The app's lifespan: resources set up before the first poll, shared, closed after the end."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import anyio
import pytest
from support.worker import create_machine, start, unique, wait_done, worker_settings

from fleet import ConfigurationError, Fleet, Task
from fleet._metrics import Metrics
from fleet._worker import serve
from fleet.emulator import Emulator


async def test_handlers_share_what_the_lifespan_opened_from_before_the_first_poll_to_the_end(
    endpoint: Emulator, sfn: Any
) -> None:
    metrics = Metrics()
    seen: dict[str, Any] = {}
    app = Fleet()
    async_name, sync_name = unique("LifeAsync"), unique("LifeSync")

    @app.lifespan
    async def resources(app: Fleet) -> AsyncIterator[dict[str, Any]]:
        seen["polls_at_start"] = metrics.total(
            "fleet_api_requests_total", operation="GetActivityTask"
        )
        async with aiohttp.ClientSession() as http:  # a real shared client
            yield {"http": http, "lock": threading.Lock()}
            seen["reported_at_close"] = metrics.total(
                "fleet_tasks_completed_total", outcome="succeeded"
            )
            seen["http_open_at_close"] = not http.closed
        seen["http_closed_after"] = http.closed

    @app.activity(async_name)
    async def use_async(task: Task) -> bool:
        return (
            isinstance(task.state["http"], aiohttp.ClientSession) and not task.state["http"].closed
        )

    @app.activity(sync_name)
    def use_sync(task: Task) -> bool:
        with task.state["lock"]:  # the same object, from a handler thread
            return True

    _, async_machine = await create_machine(sfn, async_name)
    _, sync_machine = await create_machine(sfn, sync_name)
    arns = await start(sfn, async_machine, [{}] * 3) + await start(sfn, sync_machine, [{}] * 3)
    settings = worker_settings(endpoint.endpoint_url, max_tasks=6)
    with anyio.fail_after(30):
        status = await serve(app, settings, metrics=metrics)
    assert status == 0
    done = await wait_done(sfn, arns, timeout=5)
    assert [d["output"] for d in done.values()] == ["true"] * 6
    assert seen == {
        "polls_at_start": 0,  # set up before the first poll
        "reported_at_close": 6,  # closed after the last report
        "http_open_at_close": True,
        "http_closed_after": True,
    }


async def test_a_lifespan_that_cannot_start_stops_start_up_before_any_poll(
    endpoint: Emulator, sfn: Any
) -> None:
    metrics = Metrics()
    name = unique("LifeFails")

    @asynccontextmanager
    async def database(app: Fleet) -> AsyncIterator[None]:
        raise ConnectionRefusedError("the database is not there")
        yield

    app = Fleet(lifespan=database)

    @app.activity(name)
    async def work(task: Task) -> str:
        return "ok"

    await sfn.create_activity(name=name)
    with pytest.raises(ConfigurationError, match="lifespan failed to start: ConnectionRefused"):
        await serve(app, worker_settings(endpoint.endpoint_url), metrics=metrics)
    assert metrics.total("fleet_api_requests_total", operation="GetActivityTask") == 0


async def test_a_lifespan_that_fails_to_close_makes_the_exit_status_non_zero(
    endpoint: Emulator, sfn: Any, caplog: pytest.LogCaptureFixture
) -> None:
    name = unique("LifeClose")
    app = Fleet()

    @app.lifespan
    async def leaky(app: Fleet) -> AsyncIterator[None]:
        yield
        raise RuntimeError("pool did not close")

    @app.activity(name)
    async def work(task: Task) -> str:
        return "ok"

    _, machine = await create_machine(sfn, name)
    await start(sfn, machine, [{}])
    with anyio.fail_after(30):
        status = await serve(app, worker_settings(endpoint.endpoint_url, max_tasks=1))
    assert status == 1
    assert any("lifespan failed to close" in r.getMessage() for r in caplog.records)


def test_an_app_has_at_most_one_lifespan() -> None:
    app = Fleet()
    app.lifespan(lambda app: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="lifespan already"):
        app.lifespan(lambda app: None)  # type: ignore[arg-type,return-value]
