"""Work that used to be lost or left hanging, each case in a worker in-process."""

from __future__ import annotations

import json
from typing import Any

import anyio
from support.worker import (
    RETRY_FLEET,
    create_machine,
    event_types,
    history,
    running_worker,
    start,
    unique,
    wait_done,
    worker_settings,
)

from fleet import Fleet, Task
from fleet._metrics import Metrics
from fleet._worker import serve
from fleet.emulator import Emulator


class ItemsRaise(dict[str, int]):
    def items(self):  # type: ignore[override]
        raise RuntimeError("items() is broken")


class StrRaises(Exception):
    def __str__(self) -> str:
        raise ValueError("no message for you")


def deeply_nested(depth: int = 100_000) -> list[object]:
    value: list[object] = []
    for _ in range(depth):
        value = [value]
    return value


async def test_results_and_errors_that_cannot_be_encoded_are_reported_as_failures(
    endpoint: Emulator, sfn: Any
) -> None:
    """No HeartbeatSeconds: a task whose report is never sent would stay RUNNING forever."""
    app = Fleet()
    name = unique("Encode")

    @app.activity(name)
    async def work(task: Task) -> Any:
        kind = task.input["kind"]
        if kind == "nested":
            return deeply_nested()
        if kind == "items":
            return ItemsRaise(a=1)
        raise StrRaises()

    _, machine = await create_machine(sfn, name)
    async with running_worker(app, endpoint.endpoint_url) as worker:
        arns = await start(sfn, machine, [{"kind": k} for k in ("nested", "items", "str")])
        done = await wait_done(sfn, arns, timeout=20)
    errors = [done[arn].get("error") for arn in arns]
    assert [d["status"] for d in done.values()] == ["FAILED"] * 3
    assert errors == ["Fleet.InvalidOutput", "Fleet.InvalidOutput", "StrRaises"]
    assert worker.value("fleet_tasks_completed_total", activity=name, outcome="unreported") == 0


async def test_max_tasks_with_an_idle_activity_takes_them_all_and_exits(
    endpoint: Emulator, sfn: Any
) -> None:
    """Polls of an activity with no work must not hold the budget the busy one needs."""
    app = Fleet()
    idle, busy = unique("Idle"), unique("Busy")

    @app.activity(idle)
    async def nothing(task: Task) -> str:
        return "never called"

    @app.activity(busy)
    async def work(task: Task) -> str:
        return "ok"

    await sfn.create_activity(name=idle)
    _, machine = await create_machine(sfn, busy)
    arns = await start(sfn, machine, [{}] * 6)
    # Each activity keeps four polls open; more than the whole budget.
    settings = worker_settings(endpoint.endpoint_url, max_tasks=6, min_pollers=4, max_pollers=4)
    with anyio.fail_after(30):
        status = await serve(app, settings, metrics=Metrics())
    assert status == 0
    done = await wait_done(sfn, arns, timeout=5)
    assert {d["status"] for d in done.values()} == {"SUCCEEDED"}


async def test_the_smallest_reserve_still_reports_every_fail_back(
    endpoint: Emulator, sfn: Any
) -> None:
    app = Fleet()
    name = unique("Reserve")
    running = 0

    @app.activity(name)
    async def stay(task: Task) -> None:
        nonlocal running
        running += 1
        await anyio.sleep(60)

    _, machine = await create_machine(sfn, name, retry=[RETRY_FLEET])
    async with running_worker(
        app, endpoint.endpoint_url, drain_seconds=2.0, drain_reserve_seconds=1.0
    ) as worker:
        arns = await start(sfn, machine, [{}] * 8)
        with anyio.fail_after(10):
            while running < 8:
                await anyio.sleep(0.02)
        assert worker.sup is not None
        worker.sup.drain("test")
    assert worker.status == 0
    assert worker.value("fleet_tasks_completed_total", activity=name, outcome="interrupted") == 8
    assert worker.value("fleet_tasks_completed_total", activity=name, outcome="unreported") == 0
    for arn in arns:
        failed = [
            json.loads(e["activityFailedEventDetails"]["cause"])["worker"]
            for e in await history(sfn, arn)
            if e["type"] == "ActivityFailed"
        ]
        assert failed == ["test-worker"]
        assert "ActivityTimedOut" not in event_types(await history(sfn, arn))


async def test_a_handler_that_ignores_its_timeout_does_not_hold_its_report(
    endpoint: Emulator, sfn: Any
) -> None:
    app = Fleet()
    name = unique("PastTimeout")
    finished = anyio.Event()

    @app.activity(name, timeout_seconds=0.2)
    async def stubborn(task: Task) -> str:
        with anyio.CancelScope(shield=True):  # will not be cancelled
            await anyio.sleep(4)
        finished.set()
        return "too late"

    _, machine = await create_machine(sfn, name)
    async with running_worker(app, endpoint.endpoint_url) as worker:
        [arn] = await start(sfn, machine, [{}])
        done = await wait_done(sfn, [arn], timeout=20)
        assert not finished.is_set()  # reported while the handler still ran
        assert worker.sup is not None
        assert worker.sup.abandoned == 1
    assert done[arn]["status"] == "FAILED"
    assert done[arn]["error"] == "Fleet.Timeout"
