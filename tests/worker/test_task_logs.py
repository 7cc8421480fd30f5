"""What an operator reads in the logs: one line per task end, and every field on every line."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from support.fleet_process import fleet_process
from support.worker import create_machine, running_worker, start, unique, wait_done

from fleet import Fleet, Task, TaskFailure
from fleet._logging import JsonFormatter, get_logger
from fleet.emulator import Emulator

TOKEN_HASH = re.compile(r"^[0-9a-f]{12}$")
ALERTS = Path(__file__).resolve().parents[2] / "dashboards" / "prometheus" / "alerts.yml"
README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
RUNNING_SECTION = README.split("## Running", 1)[1].split("\n## ", 1)[0]


class JsonLines(list[dict[str, Any]]):
    """The runtime's log lines as the JSON formatter writes them, parsed back as they come."""

    def __init__(self) -> None:
        super().__init__()
        self.stream = io.StringIO()

    def read(self) -> JsonLines:
        self.extend(json.loads(line) for line in self.stream.getvalue().splitlines()[len(self) :])
        return self


@pytest.fixture
def json_lines() -> Iterator[JsonLines]:
    captured = JsonLines()
    handler = logging.StreamHandler(captured.stream)
    handler.setFormatter(JsonFormatter())
    logger = get_logger()
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield captured
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def outcome_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["message"].startswith("task ")]


KINDS = {
    # kind: (level, message, error)
    "ok": ("info", "task succeeded", None),
    "chosen": ("warning", "task failed: Greeting.NoOne", "Greeting.NoOne"),
    "bug": ("error", "task failed: RuntimeError", "RuntimeError"),
    "unencodable": ("error", "task failed: Fleet.InvalidOutput", "Fleet.InvalidOutput"),
    "slow": ("warning", "task failed: Fleet.Timeout", "Fleet.Timeout"),
}


async def test_every_task_end_is_one_line_with_outcome_error_attempt_and_execution(
    endpoint: Emulator, sfn: Any, json_lines: JsonLines
) -> None:
    app = Fleet()
    name = unique("Lines")

    @app.activity(name, timeout_seconds=0.5)
    async def work(task: Task) -> Any:
        kind = task.input["kind"]
        if kind == "chosen":
            raise TaskFailure("Greeting.NoOne", "nobody to greet")
        if kind == "bug":
            raise RuntimeError("boom")
        if kind == "unencodable":
            return {"when": {1, 2}}
        if kind == "slow":
            await anyio.sleep(30)
        return {"ok": True}

    _, machine = await create_machine(sfn, name, context=True)
    async with running_worker(app, endpoint.endpoint_url):
        arns = await start(sfn, machine, [{"kind": kind} for kind in KINDS])
        await wait_done(sfn, arns)

    lines = outcome_lines(json_lines.read())
    assert len(lines) == len(KINDS)  # one line per task, no more
    by_execution = {line["execution_arn"]: line for line in lines}
    for arn, (kind, (level, message, error)) in zip(arns, KINDS.items(), strict=True):
        line = by_execution[arn]
        assert line["level"] == level, kind
        assert line["message"] == message, kind
        assert line["error"] == error, kind
        assert line["outcome"] == ("succeeded" if error is None else "failed"), kind
        assert line["activity"] == name
        assert TOKEN_HASH.match(line["token"])
        assert line["attempt"] == 1
        assert line["execution"] == arn.rsplit(":", 1)[-1]
        assert line["duration_seconds"] >= 0
        assert line["logger"] == "fleet.task"
    # An unexpected exception carries its traceback; a failure the handler chose, its cause.
    bug = by_execution[arns[2]]
    assert "Traceback" in bug["exception"]
    assert 'raise RuntimeError("boom")' in bug["exception"]
    chosen = by_execution[arns[1]]
    assert chosen["cause"] == "nobody to greet"
    assert "exception" not in chosen

    # The README's "Running" section documents every field of the line.
    running = RUNNING_SECTION
    fields = {key for line in lines for key in line} - {"time", "level", "logger", "message"}
    for field in fields | {"exception"}:
        assert f"`{field}`" in running, field


async def test_without_the_context_the_line_says_so_rather_than_guessing(
    endpoint: Emulator, sfn: Any, json_lines: JsonLines
) -> None:
    app = Fleet()
    name = unique("Plain")

    @app.activity(name)
    async def work(task: Task) -> str:
        return "ok"

    _, machine = await create_machine(sfn, name)
    async with running_worker(app, endpoint.endpoint_url):
        await wait_done(sfn, await start(sfn, machine, [{}]))
    [line] = outcome_lines(json_lines.read())
    assert line["attempt"] is None
    assert line["execution"] is None
    assert line["outcome"] == "succeeded"


async def test_task_lines_keep_their_own_fields_and_the_tasks(
    make_endpoint: Any, json_lines: JsonLines
) -> None:
    """The heartbeat and the report fail; their lines carry what they are about."""
    async with make_endpoint(fault_kinds=("500",)) as emu:
        from support.worker import client

        async with client(emu.endpoint_url) as sfn:
            app = Fleet()
            name = unique("Fields")
            running = anyio.Event()
            release = anyio.Event()

            @app.activity(name, heartbeat_seconds=1)
            async def work(task: Task) -> str:
                running.set()
                await release.wait()
                return "ok"

            _, machine = await create_machine(sfn, name, context=True)
            async with running_worker(app, emu.endpoint_url, report_deadline_seconds=1.0) as worker:
                await start(sfn, machine, [{}])
                with anyio.fail_after(10):
                    await running.wait()
                emu.options.fault_rate = 1.0  # every call fails from now on
                with anyio.fail_after(10):
                    while worker.value("fleet_heartbeats_total", result="error") < 1:
                        await anyio.sleep(0.05)
                release.set()
                with anyio.fail_after(10):
                    while worker.value("fleet_tasks_completed_total", outcome="unreported") < 1:
                        await anyio.sleep(0.05)
                emu.options.fault_rate = 0.0

    task_lines = [line for line in json_lines.read() if "token" in line]
    assert task_lines
    for line in task_lines:
        assert line["activity"] == name
        assert TOKEN_HASH.match(line["token"])
    [beat] = [line for line in task_lines if line["message"] == "heartbeat failed; retrying soon"]
    assert beat["code"] == "InternalFailure"
    assert beat["outcome"] == "server_error"
    [unreported] = [
        line for line in task_lines if line["message"] == "could not report the task's result"
    ][:1]
    assert unreported["level"] == "error"
    assert unreported["outcome"] == "succeeded"  # what would have been reported
    assert unreported["operation"] == "SendTaskSuccess"
    assert unreported["code"] == "InternalFailure"
    assert unreported["attempts"] >= 1
    [end] = outcome_lines(task_lines)
    assert end["outcome"] == "unreported"
    assert end["level"] == "error"
    assert end["attempt"] == 1

    # The alert's runbook sends the on-call to exactly these lines and fields.
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"][0]["rules"]
    [rule] = [r for r in rules if r.get("alert") == "FleetResultsUnreported"]
    runbook = " ".join(rule["annotations"]["description"].split())
    assert f'"{end["message"]}"' in runbook
    assert f'"{unreported["message"]}"' in runbook
    for field in ("operation", "code", "error", "attempts", "execution", "attempt"):
        assert field in unreported or field in end, field
        assert field in runbook, field


FAILING_APP = """
from fleet import Fleet, Task

app = Fleet()


@app.activity({name!r})
async def greet(task: Task):
    raise RuntimeError(f"no greeting for {{task.input['who']}}")
"""


async def test_a_fleet_run_with_a_failing_handler_logs_the_execution_and_counts_the_error(
    tmp_path: Path, endpoint: Emulator, sfn: Any
) -> None:
    """What an on-call sees of one failing task: its line in the logs, its error in /metrics."""
    name = unique("OnCall")
    _, machine = await create_machine(sfn, name, context=True)
    async with fleet_process(tmp_path, FAILING_APP.format(name=name), endpoint.endpoint_url) as w:
        await w.wait_ready()
        [arn] = await start(sfn, machine, [{"who": "Ada"}])
        await wait_done(sfn, [arn])
        await w.wait_for("fleet_tasks_completed_total", 1, activity=name, outcome="failed")
        samples = await w.scrape()
    labels = (("activity", name), ("error", "RuntimeError"), ("outcome", "failed"))
    assert samples[("fleet_tasks_completed_total", labels)] == 1
    [line] = [e for e in w.logs() if e["message"] == "task failed: RuntimeError"]
    assert line["level"] == "error"
    assert line["execution"] == arn.rsplit(":", 1)[-1]
    assert line["execution_arn"] == arn
    assert line["attempt"] == 1
    assert "RuntimeError: no greeting for Ada" in line["exception"]
