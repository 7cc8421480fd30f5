"""Worker processes for tests: ``fleet run`` on a generated app, its metrics and its logs."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import anyio
from anyio.abc import Process
from prometheus_client.parser import text_string_to_metric_families

from support.ports import free_port

#: Metric samples keyed by (sample name, sorted labels).
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples_of(families: Any) -> Samples:
    """Metric families (parsed text, or a registry's ``collect()``) as ``Samples``."""
    out: Samples = {}
    for family in families:
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    return out


def parse_samples(text: str) -> Samples:
    """Prometheus text as ``Samples``."""
    return samples_of(text_string_to_metric_families(text))


async def scrape(port: int) -> Samples:
    """A worker's live metrics, read over HTTP from its listener as Prometheus reads them."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
            return parse_samples(await response.text())


APP_SOURCE = """
import anyio
from fleet import Fleet, Task

app = Fleet()


@app.activity({name!r}, heartbeat_seconds=1.0)
async def work(task: Task) -> dict:
    # The first attempt sleeps as long as the input says; retries finish at once.
    if (task.attempt or 1) == 1:
        await anyio.sleep(task.input.get("sleep", 0))
    return {{"attempt": task.attempt}}
"""


class WorkerProcess:
    """A ``fleet run`` subprocess, its metrics port and what it logged."""

    def __init__(self, process: Process, port: int) -> None:
        self.process = process
        self.port = port
        self.lines: list[str] = []

    async def scrape(self) -> Samples:
        """The live metrics, over HTTP as Prometheus reads them."""
        return await scrape(self.port)

    async def metric(self, name: str, **labels: str) -> float:
        """One live sample; KeyError when the series does not exist."""
        try:
            return (await self.scrape())[(name, tuple(sorted(labels.items())))]
        except KeyError:
            raise KeyError(name) from None

    async def wait_ready(self, timeout: float = 20.0) -> None:
        with anyio.fail_after(timeout):
            while True:
                try:
                    async with aiohttp.ClientSession() as session:
                        url = f"http://127.0.0.1:{self.port}/readyz"
                        async with session.get(url) as response:
                            if response.status == 200:
                                return
                except aiohttp.ClientError:
                    pass
                if self.process.returncode is not None:
                    raise RuntimeError("worker exited:\n" + "\n".join(self.lines))
                await anyio.sleep(0.1)

    async def wait_in_flight(self, activity: str, count: int, timeout: float = 20.0) -> None:
        with anyio.fail_after(timeout):
            while await self.metric("fleet_tasks_in_flight", activity=activity) < count:
                await anyio.sleep(0.05)

    async def exit_status(self, timeout: float) -> int:
        with anyio.fail_after(timeout):
            return await self.process.wait()

    def logs(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines if line.startswith("{")]


@asynccontextmanager
async def fleet_run(
    tmp_path: Path, activity: str, endpoint_url: str, *args: str
) -> AsyncIterator[WorkerProcess]:
    """Start ``fleet run`` on a generated app module; kill it if the test leaves it running."""
    module = f"drainapp_{activity.replace('-', '_').lower()}"
    (tmp_path / f"{module}.py").write_text(APP_SOURCE.format(name=activity))
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    command = [
        sys.executable, "-m", "fleet._cli", "run", f"{module}:app",
        "--endpoint-url", endpoint_url, "--metrics-port", str(port),
        "--worker-name", "subprocess-worker", "--log-format", "json",
        "--metrics-linger-seconds", "0", *args,
    ]  # fmt: skip
    process = await anyio.open_process(command, env=env, cwd=tmp_path)
    worker = WorkerProcess(process, port)

    async def collect() -> None:
        assert process.stderr is not None
        buffer = b""
        async for chunk in process.stderr:
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            worker.lines.extend(line.decode() for line in complete)

    async with anyio.create_task_group() as tg:
        tg.start_soon(collect)
        try:
            yield worker
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()
            tg.cancel_scope.cancel()
    await process.aclose()
