"""``fleet run`` processes for fault tests: any app source, real signals, final metrics on exit."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import anyio

from support.process import Samples, WorkerProcess, free_port, parse_samples

TESTS = Path(__file__).resolve().parents[1]


class FleetProcess(WorkerProcess):
    """A ``fleet run`` subprocess; after it exits, ``final`` holds the metrics it ended with."""

    def __init__(self, process: Any, port: int, name: str, metrics_file: Path) -> None:
        super().__init__(process, port)
        self.name = name
        self.metrics_file = metrics_file
        self.pid: int = process.pid

    @property
    def final(self) -> Samples | None:
        """The worker's metrics as it exited, or None if it did not exit by itself."""
        if not self.metrics_file.exists():
            return None
        return parse_samples(self.metrics_file.read_text())

    async def sample(self, name: str, **labels: str) -> float:
        """The live sum of ``name`` over the series whose labels include ``labels`` (0 if none).

        When the worker does not answer, the error says whether it still runs and shows the
        last lines it logged.
        """
        try:
            samples = await self.scrape()
        except aiohttp.ClientConnectionError as exc:
            status = self.process.returncode
            state = "running" if status is None else f"exited with status {status}"
            tail = "\n".join(self.lines[-30:])
            raise RuntimeError(f"{self.name} ({state}) did not answer: {exc}\n{tail}") from exc
        want = set(labels.items())
        return sum(
            value for (sample, series), value in samples.items()
            if sample == name and want <= set(series)
        )  # fmt: skip

    async def wait_for(
        self, name: str, at_least: float, timeout: float = 20.0, **labels: str
    ) -> None:
        """Wait until the live sample ``name`` reaches ``at_least``."""
        with anyio.fail_after(timeout):
            while await self.sample(name, **labels) < at_least:
                await anyio.sleep(0.05)

    async def signal_and_time_exit(self, signum: int, timeout: float) -> tuple[int, float]:
        """Send ``signum``; return the exit status and the seconds until the process ended."""
        sent = time.monotonic()
        self.process.send_signal(signum)
        status = await self.exit_status(timeout)
        return status, time.monotonic() - sent


@asynccontextmanager
async def fleet_process(
    tmp_path: Path,
    source: str,
    endpoint_url: str,
    *args: str,
    name: str = "worker-1",
    log_level: str = "INFO",
) -> AsyncIterator[FleetProcess]:
    """Run ``fleet run`` on an app module written from ``source``; kill it if it is left running.

    ``source`` defines ``app``. The process logs JSON at ``log_level`` and is named ``name``
    (its workerName in ActivityStarted events).
    """
    module = f"app_{name.replace('-', '_')}_{os.getpid()}_{time.monotonic_ns()}"
    (tmp_path / f"{module}.py").write_text(source)
    metrics_file = tmp_path / f"{module}.metrics"
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(TESTS)])}
    command = [
        sys.executable, "-m", "support.recorded_run", str(metrics_file),
        "run", f"{module}:app", "--endpoint-url", endpoint_url, "--metrics-port", str(port),
        "--worker-name", name, "--log-format", "json", "--log-level", log_level,
        "--task-protection", "off", "--metrics-linger-seconds", "0", *args,
    ]  # fmt: skip
    process = await anyio.open_process(command, env=env, cwd=tmp_path)
    worker = FleetProcess(process, port, name, metrics_file)

    ended = anyio.Event()

    async def collect() -> None:
        assert process.stderr is not None
        buffer = b""
        try:
            async for chunk in process.stderr:
                buffer += chunk
                *complete, buffer = buffer.split(b"\n")
                worker.lines.extend(line.decode(errors="replace") for line in complete)
        finally:
            ended.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(collect)
        try:
            yield worker
        finally:
            if process.returncode is None:
                process.kill()
            with anyio.CancelScope(shield=True):
                await process.wait()
                # Let the reader take the last lines before it is cancelled.
                with anyio.move_on_after(2):
                    await ended.wait()
            tg.cancel_scope.cancel()
    await process.aclose()
