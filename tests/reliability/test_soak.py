"""A soak: steady load on a real ``fleet run`` process with 1% of API calls failing, bounded
in time, ending with nothing lost and the worker's memory flat.

``SOAK_SECONDS`` sets the length of the load (45 s by default, for CI); docs/reliability.md
quotes a longer run.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from reliability_support import (
    HEARTBEAT_REAL,
    RETRY_REAL,
    api_outcomes,
    machine,
    show,
    stop,
    wait_completed,
)
from support.faults import assert_nothing_lost
from support.fleet_process import fleet_process
from support.worker import client, unique

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "45"))
#: Executions started per second, steadily.
RATE = 30
MIB = 2**20
RSS = "process_resident_memory_bytes"

WORKLOAD = """
import random

import anyio
from fleet import Fleet, Task

app = Fleet()


@app.activity({name!r}, heartbeat_seconds=1.0)
async def work(task: Task) -> dict:
    await anyio.sleep(task.input["sleep"])
    # A result of a few KiB, as a real job's summary would be.
    return {{"n": task.input["n"], "rows": [random.random() for _ in range(200)]}}
"""


@pytest.mark.soak
@pytest.mark.timeout(SOAK_SECONDS + 150)
async def test_soak_with_one_percent_faults_loses_nothing_and_memory_stays_flat(
    tmp_path: Path, make_endpoint: Any, issued_tokens: list[str]
) -> None:
    name = unique("Soak")
    rng = random.Random(5)
    runs: list[str] = []
    async with (
        make_endpoint(seed=5, fault_kinds=["500", "503", "drop"]) as emu,
        client(emu.endpoint_url) as sfn,
    ):
        arn = await machine(sfn, name)
        async with fleet_process(
            tmp_path, WORKLOAD.format(name=name), emu.endpoint_url,
            "--concurrency", "64", "--max-pollers", "16",
        ) as worker:  # fmt: skip
            await worker.wait_ready()
            emu.options.fault_rate = 0.01

            async def launch(n: int) -> None:
                # Most tasks are short; one in twenty runs long enough to heartbeat.
                sleep = 2.5 if rng.random() < 0.05 else rng.uniform(0.0, 0.3)
                body = json.dumps({"n": n, "sleep": sleep})
                # The client's own retries absorb the faults on StartExecution.
                started = await sfn.start_execution(stateMachineArn=arn, input=body)
                runs.append(started["executionArn"])

            began = time.monotonic()
            rss: list[tuple[float, float]] = []
            async with anyio.create_task_group() as tg:
                n = 0
                while (elapsed := time.monotonic() - began) < SOAK_SECONDS:
                    while n < elapsed * RATE:
                        tg.start_soon(launch, n)
                        n += 1
                    if not rss or time.monotonic() - rss[-1][0] >= 5:
                        rss.append((time.monotonic(), await worker.sample(RSS)))
                    await anyio.sleep(0.05)
            # Bounded: the worker finishes every task soon after the load stops.
            await wait_completed(worker, name, len(runs), timeout=30)
            drained_in = time.monotonic() - began - SOAK_SECONDS
            rss.append((time.monotonic(), await worker.sample(RSS)))
            emu.options.fault_rate = 0.0
            report = await stop(worker)
        faults = dict(emu.stats.faults_injected)
        ledger = await assert_nothing_lost(
            sfn,
            runs,
            [report],
            heartbeat_seconds=HEARTBEAT_REAL,
            retry_seconds=RETRY_REAL,
            timeout=60,
            tokens=issued_tokens,
        )
    assert ledger.timeouts == 0
    assert sum(faults.values()) > 0
    # Memory: after warming up (the first fifth of the run) the resident set stays flat.
    warm = next(value for at, value in rss if at - began >= SOAK_SECONDS / 5)
    end = rss[-1][1]
    assert end - warm < 16 * MIB
    numbers = {
        "soak_seconds": SOAK_SECONDS,
        "tasks_per_second": round(len(runs) / SOAK_SECONDS, 1),
        "injected_faults": faults,
        "calls": api_outcomes(report),
        "rss_mib_start_warm_end": [round(v / MIB, 1) for v in (rss[0][1], warm, end)],
        "seconds_to_finish_after_load": round(drained_in, 2),
    }
    show("soak", {**ledger.summary(), **numbers})
