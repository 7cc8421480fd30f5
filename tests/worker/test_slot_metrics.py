"""Slots as the metrics show them: the process cap, and tasks apart from polls."""

from __future__ import annotations

from typing import Any

import anyio
from support.worker import create_machine, running_worker, start, unique, wait_done

from fleet import Fleet, Task
from fleet.emulator import Emulator


async def test_process_slots_show_the_cap_and_tell_tasks_from_polls(
    endpoint: Emulator, sfn: Any
) -> None:
    app = Fleet()
    busy, other = unique("Busy"), unique("Other")
    gate = anyio.Event()
    running = 0

    @app.activity(busy)
    async def hold(task: Task) -> str:
        nonlocal running
        running += 1
        await gate.wait()
        return "ok"

    @app.activity(other)
    async def never(task: Task) -> str:
        return "ok"

    _, machine = await create_machine(sfn, busy)
    await sfn.create_activity(name=other)
    # Each activity may use all 4 slots, but the process only has 4 in all.
    async with running_worker(app, endpoint.endpoint_url, concurrency=4) as worker:
        with anyio.fail_after(10):
            while (await worker.scrape()).get(
                ("fleet_process_slots_in_use", (("holder", "poll"),)), 0
            ) < 2:
                await anyio.sleep(0.02)
        idle = await worker.scrape()
        # Idle: every slot in use is held by a poll, none by a task.
        assert idle[("fleet_process_slots_in_use", (("holder", "task"),))] == 0
        assert idle[("fleet_process_slots_capacity", ())] == 4

        arns = await start(sfn, machine, [{}] * 4)
        with anyio.fail_after(10):
            while running < 4:
                await anyio.sleep(0.02)
        full = await worker.scrape()
        gate.set()
        await wait_done(sfn, arns)
    assert full[("fleet_process_slots_capacity", ())] == 4
    assert full[("fleet_process_slots_in_use", (("holder", "task"),))] == 4
    assert full[("fleet_process_slots_in_use", (("holder", "poll"),))] == 0
    # Per activity, each has 4: summing them would show the full process half empty.
    assert full[("fleet_slots_capacity", (("activity", busy),))] == 4
    assert full[("fleet_slots_capacity", (("activity", other),))] == 4
