"""Activity tasks per second through the local endpoint, driven by the raw client.

Starts `fleet emulator` as a subprocess, pre-queues N executions of a one-Task state machine,
then drains them with C concurrent loops of GetActivityTask + SendTaskSuccess and reports
tasks per second (N / time from the first poll to the N-th success). Repeats with a fresh
endpoint each time and prints the median.

    .venv/bin/python benchmarks/emulator_throughput.py --executions 5000 --concurrency 64 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rawclient import RawClient

ROLE = "arn:aws:iam::123456789012:role/bench"


def start_endpoint() -> tuple[subprocess.Popen[str], str]:
    """Run `fleet emulator --port 0` and return it with the URL it prints."""
    fleet = Path(sys.executable).with_name("fleet")
    command = [str(fleet)] if fleet.exists() else [sys.executable, "-m", "fleet._cli"]
    process = subprocess.Popen(
        # The endpoint's own speed is measured, far beyond AWS's API quotas: no throttling.
        [*command, "emulator", "--port", "0", "--throttle", "none"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if "listening on " not in line:
        process.kill()
        raise SystemExit(f"the endpoint did not start: {line!r}")
    return process, line.rsplit(" ", 1)[-1]


async def prepare(client: RawClient, executions: int) -> str:
    """Create the activity and state machine and start `executions` executions."""
    activity = (await client.create_activity("bench"))["activityArn"]
    definition = {
        "StartAt": "Work",
        "States": {"Work": {"Type": "Task", "Resource": activity, "End": True}},
    }
    machine = (await client.create_state_machine("bench", definition, ROLE))["stateMachineArn"]
    started = 0

    async def starter() -> None:
        nonlocal started
        while started < executions:
            started += 1
            await client.start_execution(machine, input=json.dumps({"n": started}))

    await asyncio.gather(*(starter() for _ in range(32)))
    return activity


async def drain(client: RawClient, activity: str, executions: int, concurrency: int) -> float:
    """Complete every queued task; return the elapsed seconds."""
    done = 0
    finished = asyncio.Event()

    async def worker(index: int) -> None:
        nonlocal done
        name = f"bench-{index}"
        while True:
            task = await client.get_activity_task(activity, name)
            token = task.get("taskToken")
            if not token:
                continue
            await client.send_task_success(token, '{"ok":true}')
            done += 1
            if done >= executions:
                finished.set()

    start = time.perf_counter()
    workers = [asyncio.create_task(worker(i)) for i in range(concurrency)]
    try:
        await finished.wait()
        elapsed = time.perf_counter() - start
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return elapsed


async def measure(url: str, executions: int, concurrency: int) -> dict[str, Any]:
    async with RawClient(url, pool_size=concurrency + 8) as client:
        activity = await prepare(client, executions)
        elapsed = await drain(client, activity, executions, concurrency)
    rate = executions / elapsed
    return {"executions": executions, "seconds": elapsed, "tasks_per_second": rate}


async def one_run(executions: int, concurrency: int, endpoint: str | None) -> dict[str, Any]:
    if endpoint is not None:
        return await measure(endpoint, executions, concurrency)
    process, url = start_endpoint()
    try:
        return await measure(url, executions, concurrency)
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--endpoint",
        help="use this running endpoint instead of starting one (e.g. one under a profiler)",
    )
    args = parser.parse_args()
    rates = []
    for run in range(1, args.repeat + 1):
        result = asyncio.run(one_run(args.executions, args.concurrency, args.endpoint))
        rates.append(result["tasks_per_second"])
        print(
            f"run {run}: {result['executions']} tasks in {result['seconds']:.2f} s = "
            f"{result['tasks_per_second']:.0f} tasks/s",
            flush=True,
        )
    print(
        f"median: {statistics.median(rates):.0f} tasks/s "
        f"(executions={args.executions}, concurrency={args.concurrency}, runs={len(rates)})"
    )


if __name__ == "__main__":
    main()
