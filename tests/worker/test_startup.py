"""``fleet run`` as a user runs it: bad input stops at once, batch mode exits when done."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from support.process import fleet_run
from support.worker import create_machine, event_types, history, start, unique, wait_done

from fleet.emulator import Emulator

GOOD_APP = """
from fleet import Fleet
app = Fleet()
not_an_app = 42

@app.activity({name!r})
async def work(task):
    return "ok"
"""


def run_cli(
    args: list[str], cwd: Path, env: dict[str, str | None] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``fleet run ARGS`` in ``cwd``; ``env`` values of None remove a variable."""
    full = {**os.environ, "PYTHONPATH": str(cwd)}
    for key, value in (env or {}).items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    return subprocess.run(
        [sys.executable, "-m", "fleet._cli", "run", *args],
        cwd=cwd, env=full, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


NO_REGION = {"FLEET_REGION": None, "AWS_REGION": None, "AWS_DEFAULT_REGION": None}
NO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["goodapp:app"], {"FLEET_CONCURRENCY": "0"}, "invalid setting FLEET_CONCURRENCY"),
        (["goodapp:app", "--max-pollers", "many"], {}, "invalid setting --max-pollers"),
        (["goodapp:app"], {"FLEET_DRAIN_SECOND": "5"}, "did you mean FLEET_DRAIN_SECONDS"),
        (["goodapp"], {}, "must be 'module:attribute'"),
        (["missing_module:app"], {}, "cannot import module 'missing_module'"),
        (["goodapp:nothing"], {}, "has no attribute 'nothing'"),
        (["goodapp:not_an_app"], {}, "not a fleet.Fleet application"),
        (["goodapp:app"], NO_REGION, "no AWS region"),
        (["goodapp:app"], NO_CREDENTIALS, "no AWS credentials"),
        (["goodapp:app", "--task-protection", "on"], {}, "ECS_AGENT_URI is not set"),
    ],
)
async def test_bad_start_up_stops_with_one_clear_line_and_status_2(
    tmp_path: Path,
    endpoint: Emulator,
    sfn: Any,
    args: list[str],
    env: dict[str, str | None],
    message: str,
) -> None:
    name = unique("Cli")
    await sfn.create_activity(name=name)
    (tmp_path / "goodapp.py").write_text(GOOD_APP.format(name=name))
    # A worker that sat there polling instead would run into run_cli's timeout.
    argv = [*args, "--endpoint-url", endpoint.endpoint_url, "--metrics-port", "0"]
    result = await anyio.to_thread.run_sync(lambda: run_cli(argv, tmp_path, env))
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fleet: error: ")
    assert message in lines[0]


async def test_an_activity_that_does_not_exist_stops_start_up(
    tmp_path: Path, endpoint: Emulator
) -> None:
    (tmp_path / "goodapp.py").write_text(GOOD_APP.format(name="NeverCreated"))
    result = await anyio.to_thread.run_sync(
        lambda: run_cli(["goodapp:app", "--endpoint-url", endpoint.endpoint_url], tmp_path)
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"fleet: error: activity 'NeverCreated' does not exist at {endpoint.endpoint_url} "
        "(region us-east-1); create it first"
    ]


async def test_exit_when_idle_runs_the_backlog_then_exits(
    tmp_path: Path, endpoint: Emulator, sfn: Any
) -> None:
    name = unique("Batch")
    _, machine = await create_machine(sfn, name)
    arns = await start(sfn, machine, [{"sleep": 0.2}] * 6)
    async with fleet_run(tmp_path, name, endpoint.endpoint_url, "--exit-when-idle", "1") as worker:
        # A worker that did not exit when idle would keep polling past this.
        status = await worker.exit_status(timeout=30)
    assert status == 0
    done = await wait_done(sfn, arns, timeout=1)
    assert {d["status"] for d in done.values()} == {"SUCCEEDED"}
    assert any("--exit-when-idle" in entry.get("reason", "") for entry in worker.logs())


async def test_max_tasks_takes_exactly_that_many(
    tmp_path: Path, endpoint: Emulator, sfn: Any
) -> None:
    name = unique("Max")
    _, machine = await create_machine(sfn, name)
    arns = await start(sfn, machine, [{}] * 5)
    async with fleet_run(
        tmp_path, name, endpoint.endpoint_url, "--max-tasks", "3", "--max-pollers", "5"
    ) as worker:
        assert await worker.exit_status(timeout=20) == 0
    succeeded, untouched = 0, 0
    for arn in arns:
        types = event_types(await history(sfn, arn))
        if "ExecutionSucceeded" in types:
            succeeded += 1
        elif "ActivityStarted" not in types:
            untouched += 1
    assert (succeeded, untouched) == (3, 2)


async def test_a_worker_that_cannot_keep_polling_exits_non_zero_with_one_clear_line(
    tmp_path: Path, endpoint: Emulator, sfn: Any
) -> None:
    name = unique("Deleted")
    activity, _ = await create_machine(sfn, name)
    async with fleet_run(tmp_path, name, endpoint.endpoint_url) as worker:
        await worker.wait_ready()
        await sfn.delete_activity(activityArn=activity)
        status = await worker.exit_status(timeout=20)
    assert status == 1
    fatal = [entry for entry in worker.logs() if entry["level"] == "error"]
    assert fatal
    assert fatal[0]["message"].startswith("fatal: cannot poll activity")
    assert "ActivityDoesNotExist" in fatal[0]["message"]


EXITS_AT_IMPORT = """
import sys
sys.exit(3)
"""

NEEDS_A_MISSING_LIBRARY = """
import reportlab  # not installed; the module's own name starts with it
"""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--endpoint-url", "127.0.0.1:8083"],
         "invalid setting --endpoint-url: must be an http:// or https:// URL"),
        (["--endpoint-url", "notaurl"], "invalid setting --endpoint-url: must be an http"),
        (["--endpoint-url", "http://127.0.0.1:port"], "invalid setting --endpoint-url: not a URL"),
        (["--drain-seconds", "inf"], "invalid setting --drain-seconds: Input should be a finite"),
        (["--heartbeat-seconds", "inf"], "invalid setting --heartbeat-seconds: Input should be"),
        (["--report-deadline-seconds", "inf"], "invalid setting --report-deadline-seconds"),
        (["--heartbeat-seconds", "0.001"],
         "invalid setting --heartbeat-seconds: Input should be greater than or equal to 1"),
        (["--drain-reserve-seconds", "0.5"],
         "invalid setting --drain-reserve-seconds: Input should be greater than or equal to 1"),
        (["--metrics-host", "192.0.2.1"], "cannot listen on 192.0.2.1:"),
        (["--metrics-host", "no.such.host.invalid"], "cannot listen on no.such.host.invalid:"),
        (["busy-port"], "cannot listen on 127.0.0.1:"),
        (["reportlab_jobs:app"],
         "importing 'reportlab_jobs' failed: it imports 'reportlab', which is not installed"),
        (["exits_at_import:app"], "importing 'exits_at_import' failed: it called sys.exit(3)"),
    ],
)  # fmt: skip
async def test_every_setup_failure_is_one_line_and_status_2(
    tmp_path: Path, endpoint: Emulator, sfn: Any, args: list[str], message: str
) -> None:
    name = unique("Setup")
    await sfn.create_activity(name=name)
    (tmp_path / "goodapp.py").write_text(GOOD_APP.format(name=name))
    (tmp_path / "exits_at_import.py").write_text(EXITS_AT_IMPORT)
    (tmp_path / "reportlab_jobs.py").write_text(NEEDS_A_MISSING_LIBRARY)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        if args == ["busy-port"]:
            args = ["--metrics-port", str(busy.getsockname()[1])]
        app = [] if args[0].endswith(":app") else ["goodapp:app"]
        argv = [*app, "--endpoint-url", endpoint.endpoint_url, "--metrics-port", "0",
                "--drain-seconds", "5", "--drain-reserve-seconds", "1", *args]  # fmt: skip
        result = await anyio.to_thread.run_sync(lambda: run_cli(argv, tmp_path))
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fleet: error: ")
    assert message in lines[0]
