"""/readyz and the poll timestamp tell a worker whose polls keep failing from a healthy one."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import anyio
import pytest
from support.worker import client, running_worker, unique

from fleet import Fleet, Task


async def readyz(port: int) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
            return response.status, await response.json()


@pytest.mark.slow
async def test_not_ready_while_polls_fail_and_ready_again_when_they_succeed(
    make_endpoint: Any,
) -> None:
    async with make_endpoint(fault_kinds=("500",)) as emu, client(emu.endpoint_url) as sfn:
        app = Fleet()
        name = unique("Unready")

        @app.activity(name)
        async def work(task: Task) -> str:
            return "ok"

        await sfn.create_activity(name=name)
        async with running_worker(
            app, emu.endpoint_url, poll_failure_unready_seconds=1.0
        ) as worker:
            status, _ = await readyz(worker.port)
            assert status == 200
            emu.options.fault_rate = 1.0  # every poll fails with a 500 from now on
            with anyio.fail_after(30):
                while (await readyz(worker.port))[0] == 200:
                    await anyio.sleep(0.05)
            status, body = await readyz(worker.port)
            assert status == 503
            assert body["mode"] == "running"  # not draining: the polls are what fails
            assert body["polls_failing_seconds"][name] >= 1.0
            samples = await worker.scrape()
            key = ("fleet_last_successful_poll_timestamp_seconds", (("activity", name),))
            last_ok = samples[key]
            assert time.time() - last_ok >= 1.0
            assert samples[("fleet_ready", ())] == 0
            assert worker.value("fleet_polls_total", activity=name, result="error") >= 1

            emu.options.fault_rate = 0.0
            with anyio.fail_after(30):
                while (await readyz(worker.port))[0] != 200:
                    await anyio.sleep(0.05)
            samples = await worker.scrape()
            assert samples[key] > last_ok
