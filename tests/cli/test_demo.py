"""``fleet demo`` as a new user runs it: the story plays out and Ctrl-C drains."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import aiohttp
import anyio
from support.process import free_port


def test_demo_runs_the_scheduled_executions_to_the_end() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fleet._cli", "demo", "--executions", "24", "--every", "0.2",
         "--batch", "6", "--work-seconds", "0.1", "--fail-rate", "0.25", "--metrics-port", "0"],
        capture_output=True, text=True, timeout=90,
        env={**os.environ, "COLUMNS": "120"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout

    def row(label: str) -> int:
        match = re.search(rf"{label}\s*│\s*(\d+)", out)
        assert match, f"{label} missing from:\n{out}"
        return int(match.group(1))

    assert row("executions started") == 24
    assert row("executions running") == 0
    assert row("executions succeeded") + row("executions failed") == 24
    assert row("executions failed") > 0  # a quarter fail on purpose
    assert row("tasks succeeded") == row("executions succeeded")
    assert row("tasks failed") == row("executions failed")
    assert "HelloWorldActivity" in out
    assert re.search(r"console\s+http://127\.0\.0\.1:\d+/console", out)  # on in the demo
    assert "worker exit status" in out


async def test_ctrl_c_drains_the_demo_like_sigterm() -> None:
    port = free_port()
    process = await anyio.open_process(
        [sys.executable, "-m", "fleet._cli", "demo", "--executions", "1000", "--every", "0.2",
         "--batch", "4", "--work-seconds", "3", "--metrics-port", str(port)],
        env={**os.environ, "COLUMNS": "120"},
    )  # fmt: skip
    try:
        with anyio.fail_after(30):
            while True:
                try:
                    async with aiohttp.ClientSession() as session:
                        url = f"http://127.0.0.1:{port}/metrics"
                        async with session.get(url) as response:
                            text = await response.text()
                    if re.search(
                        r'fleet_tasks_in_flight\{activity="HelloWorldActivity"\} [1-9]', text
                    ):
                        break
                except aiohttp.ClientError:
                    pass
                await anyio.sleep(0.2)
        process.send_signal(signal.SIGINT)
        with anyio.fail_after(30):
            status = await process.wait()
        assert process.stdout is not None
        chunks = [chunk async for chunk in process.stdout]
        out = b"".join(chunks).decode()
    finally:
        if process.returncode is None:
            process.kill()
        await process.aclose()
    assert status == 0
    assert "Demo summary" in out
    assert re.search(r"executions started\s*│\s*\d+", out)
