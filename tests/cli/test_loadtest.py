"""``fleet loadtest`` against the local endpoint with a worker running: the report adds up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from support.worker import create_machine, running_worker, unique

from fleet import Fleet, Task
from fleet._bucket import TokenBucket
from fleet._errors import ConfigurationError
from fleet._loadtest import LoadTest, percentiles
from fleet.emulator import Emulator


def test_percentiles_use_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentiles(values) == {"p50": 50.0, "p90": 90.0, "p99": 99.0, "max": 100.0}
    assert percentiles([]) == {"p50": None, "p90": None, "p99": None, "max": None}
    assert percentiles([3.0]) == {"p50": 3.0, "p90": 3.0, "p99": 3.0, "max": 3.0}


def test_the_token_bucket_gives_its_burst_then_its_refill() -> None:
    now = [0.0]
    bucket = TokenBucket(burst=5, refill=50, clock=lambda: now[0])
    assert [bucket.try_take() for _ in range(6)] == [True] * 5 + [False]
    now[0] += 0.06  # three tokens at 50 per second
    assert [bucket.try_take() for _ in range(4)] == [True] * 3 + [False]
    now[0] += 60  # never more than the burst
    assert sum(bucket.try_take() for _ in range(10)) == 5


async def test_the_token_bucket_paces_to_its_refill_after_the_burst() -> None:
    bucket = TokenBucket(burst=5, refill=50)
    started = anyio.current_time()
    for _ in range(15):
        await bucket.take()
    took = anyio.current_time() - started
    assert took >= 10 / 50 * 0.9  # ten tokens past the burst at 50 per second


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"executions": 0}, "--executions"),
        ({"rate": 0}, "--rate"),
        ({"input": "{not json"}, "--input is not JSON"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any], message: str) -> None:
    values: dict[str, Any] = {"state_machine_arn": "arn", "executions": 1, "rate": 1.0, **kwargs}
    with pytest.raises(ConfigurationError, match=message):
        LoadTest(**values)


async def test_loadtest_follows_every_execution_and_reports_latencies(
    emulator: Emulator, sfn: Any, tmp_path: Path
) -> None:
    app = Fleet()
    name = unique("Load")

    @app.activity(name)
    async def work(task: Task) -> str:
        await anyio.sleep(0.05)
        if task.input.get("fail"):
            raise ValueError("no")
        return "ok"

    _, machine = await create_machine(sfn, name)
    seen: list[tuple[int, int]] = []
    async with running_worker(app, emulator.endpoint_url, concurrency=32):
        test = LoadTest(
            state_machine_arn=machine, executions=60, rate=40.0, input='{"n": 1}',
            endpoint_url=emulator.endpoint_url, region="us-east-1", follow_interval=0.2,
            progress=lambda started, finished, total: seen.append((started, finished)),
        )  # fmt: skip
        report = await test.run()
    assert report.outcomes == {"SUCCEEDED": 60}
    assert report.executions == 60
    assert report.rate_asked == 40.0
    # Paced: never faster than asked (60 starts over the 59 intervals of 1/40 s). A busy
    # machine can only make it slower, so there is no lower bound to hold.
    assert 0 < report.rate_achieved <= 40.0 * 60 / 59
    e2e = report.end_to_end_seconds
    assert e2e["p50"] is not None
    assert e2e["max"] is not None
    assert 0.05 <= e2e["p50"] <= e2e["max"]  # every handler sleeps 0.05 s
    waits = report.schedule_to_start_seconds
    assert waits["p50"] is not None
    assert waits["max"] is not None
    assert 0 <= waits["p50"] <= waits["max"]
    assert report.histories_sampled == 60
    assert seen[-1] == (60, 60)
    assert json.loads(report.to_json())["outcomes"] == {"SUCCEEDED": 60}


def test_the_command_line_writes_a_json_report(emulator_thread: Any, tmp_path: Path) -> None:
    import boto3

    sfn = boto3.client("stepfunctions", endpoint_url=emulator_thread.endpoint_url)
    arn = sfn.create_activity(name=unique("Nobody"))["activityArn"]
    machine = sfn.create_state_machine(
        name=unique("M"), roleArn="arn:aws:iam::123456789012:role/x",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
    )["stateMachineArn"]  # fmt: skip
    assert arn
    out = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "fleet._cli", "loadtest", "--state-machine", machine,
         "--executions", "20", "--rate", "50", "--endpoint-url", emulator_thread.endpoint_url,
         "--region", "us-east-1", "--report", str(out)],
        capture_output=True, text=True, timeout=60, env=os.environ,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["outcomes"] == {"SUCCEEDED": 20}
    assert json.loads(result.stdout)["executions"] == 20
    assert "finished" in result.stderr  # the progress bar
