"""Results held up by the network: what the worker counts when the service has moved on."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
from reliability_support import (
    HEARTBEAT_REAL,
    RETRY_REAL,
    SLEEPER,
    machine,
    show,
    stop,
    wait_completed,
)
from support.faults import assert_nothing_lost
from support.fleet_process import fleet_process
from support.worker import client, start, unique


async def test_results_held_up_past_the_heartbeat_timeout_are_rerun_and_counted_as_such(
    tmp_path: Path, make_endpoint: Any, issued_tokens: list[str]
) -> None:
    name = unique("Held")
    async with make_endpoint() as emu, client(emu.endpoint_url) as sfn:
        arn = await machine(sfn, name)
        runs = await start(sfn, arn, [{"sleep": 1.5}] * 10)
        async with fleet_process(
            tmp_path, SLEEPER.format(name=name), emu.endpoint_url, "--concurrency", "10",
        ) as worker:  # fmt: skip
            await worker.wait_ready()
            await worker.wait_for("fleet_tasks_in_flight", 10, activity=name)
            # The endpoint goes away while the handlers finish, for longer than the heartbeat
            # timeout: no result can land in time, and the service times every task out.
            await anyio.sleep(0.5)
            down_at = time.time()
            await emu.stop_listening()
            await anyio.sleep(HEARTBEAT_REAL + 0.5)
            await emu.start_listening()
            await wait_completed(worker, name, 20, timeout=30)
            report = await stop(worker)
        ledger = await assert_nothing_lost(
            sfn,
            runs,
            [report],
            heartbeat_seconds=HEARTBEAT_REAL,
            retry_seconds=RETRY_REAL,
            since=down_at,
            slack=8.0,  # the retries wait for the endpoint to come back, then for a poll
            tokens=issued_tokens,
        )
    assert ledger.timeouts == 10
    # The late results were refused, so the worker counts them cancelled, not succeeded.
    assert ledger.workers[worker.name] == {"received": 20, "succeeded": 10, "cancelled": 10}
    show("results held up by an outage", ledger.summary())
