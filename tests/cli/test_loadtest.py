"""``fleet loadtest`` against the local endpoint with a worker running: the report adds up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aioboto3
import anyio
import pytest
from selenium.webdriver.common.by import By
from support.browser import chromium
from support.worker import create_machine, running_worker, unique

from fleet import Fleet, Task
from fleet._bucket import TokenBucket
from fleet._errors import ConfigurationError
from fleet._loadstats import Threshold, histogram
from fleet._loadtest import LoadTest, Progress, percentiles
from fleet.emulator import Emulator, EmulatorOptions


def test_percentiles_use_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentiles(values) == {"min": 1.0, "avg": 50.5, "p50": 50.0, "p90": 90.0,
                                   "p95": 95.0, "p99": 99.0, "max": 100.0}  # fmt: skip
    assert set(percentiles([]).values()) == {None}
    assert percentiles([3.0])["p99"] == 3.0


def test_histogram_buckets_hold_every_value_once() -> None:
    buckets = histogram([0.0004, 0.0015, 0.3, 0.3, 7.0, 99_999.0])
    assert sum(b["count"] for b in buckets) == 6
    assert buckets[0] == {"le": 0.001, "count": 1}
    assert {"le": 0.5, "count": 2} in buckets
    assert buckets[-1] == {"le": "+Inf", "count": 1}


@pytest.mark.parametrize("text", ["p98=1", "p99", "p99=fast", "max<3"])
def test_bad_latency_thresholds_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"must look like p99=2\.5"):
        Threshold.latency(text)


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
    seen: list[Progress] = []
    async with running_worker(app, emulator.endpoint_url, concurrency=32):
        test = LoadTest(
            state_machine_arn=machine, executions=60, rate=40.0, input='{"n": 1}',
            endpoint_url=emulator.endpoint_url, region="us-east-1", follow_interval=0.2,
            progress=seen.append,
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
    last = seen[-1]
    assert (last.started, last.succeeded, last.failed, last.running) == (60, 60, 0, 0)
    assert last.latency_seconds["p50"] is not None
    assert all(p.rate_asked == 40.0 for p in seen)
    assert json.loads(report.to_json())["outcomes"] == {"SUCCEEDED": 60}
    # Per state, from the sampled histories; histograms and the time series add up.
    state = report.states["Work"]
    assert state["samples"] == 60
    assert state["task_run_seconds"]["min"] >= 0.05  # each task slept 0.05 s
    assert sum(b["count"] for b in report.histograms["end_to_end"]) == 60
    assert sum(b["count"] for b in report.histograms["state:Work"]) == 60
    assert sum(row["started"] for row in report.time_series) == 60
    assert sum(row["succeeded"] for row in report.time_series) == 60
    assert report.passed


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
    assert "finished" in result.stderr  # the live progress
    assert "asked 50/s" in result.stderr


@pytest.mark.slow
def test_failures_and_latency_cross_thresholds_and_make_html(
    fleet_worker: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fleet._cli import main

    app = Fleet()

    @app.activity("Coin")
    async def coin(task: Task) -> str:
        # Four in ten fail, by the execution's position in the run.
        flaky_count.append(1)
        if len(flaky_count) % 10 < 4:
            raise ValueError("unlucky")
        return "ok"

    flaky_count: list[int] = []
    worker = fleet_worker(app, concurrency=8)
    machine = worker.create_state_machine(
        {"StartAt": "Toss", "States": {"Toss": {"Type": "Task", "End": True,
                                                "Resource": worker.activity_arn("Coin")}}}
    )  # fmt: skip
    report_json, html = tmp_path / "report.json", tmp_path / "report.html"
    status = main(["loadtest", "--state-machine", machine, "--executions", "30", "--rate", "60",
                   "--endpoint-url", worker.endpoint_url, "--max-failure-ratio", "0.1",
                   "--max-latency", "p99=60", "--max-latency", "p50=0.000001",
                   "--report", str(report_json), "--html", str(html)])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 1  # 39% failures used to exit 0
    report = json.loads(report_json.read_text())
    assert report["outcomes"] == {"SUCCEEDED": 18, "FAILED": 12}
    assert report["failure_ratio"] == 0.4
    assert report["failures_by_error"] == {"ValueError": 12}
    verdicts = {t["name"]: t["passed"] for t in report["thresholds"]}
    assert verdicts == {"failure_ratio": False, "p99": True, "p50": False}
    assert report["passed"] is False
    assert "✗ failure_ratio 0.4 (limit 0.1)" in err
    assert "✓ p99" in err
    assert "ValueError 12" in err  # failures by error name in the live progress
    page = html.read_text()
    assert page.startswith("<!doctype html>")
    assert page.count("<svg") >= 4  # histograms end to end and per state, two time series
    assert "FAILED" in page
    assert "ValueError" in page
    for external in ("<script", "<link", "src=", "url("):
        assert external not in page
    # A person opening it sees the plots: drawn by a real browser, bars and lines with size.
    with chromium() as browser:
        browser.get(html.as_uri())
        assert browser.title == "fleet loadtest: FAILED"
        figures = browser.find_elements(By.CSS_SELECTOR, "figure svg")
        assert len(figures) >= 4
        assert all(f.size["width"] > 100 and f.size["height"] > 100 for f in figures)
        bars = browser.find_elements(By.CSS_SELECTOR, "rect.bar")
        assert sum(int(b.get_attribute("height") and float(b.get_attribute("height")) > 0)
                   for b in bars) >= 2  # fmt: skip
        assert browser.find_elements(By.CSS_SELECTOR, "polyline.series")


@pytest.mark.slow
async def test_a_rate_the_start_calls_cannot_reach_is_explained(aws_credentials: None) -> None:
    # Every call takes 0.3 s: 64 calls in flight start at most ~213 per second, not 500.
    async with Emulator(EmulatorOptions(latency_seconds=0.3)) as emu:
        async with aioboto3.Session().client("stepfunctions", endpoint_url=emu.endpoint_url,
                                             region_name="us-east-1") as sfn:  # fmt: skip
            machine = (await sfn.create_state_machine(
                name=unique("Pass"), roleArn="arn:aws:iam::123456789012:role/x",
                definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass",
                                                                        "End": True}}}),
            ))["stateMachineArn"]  # fmt: skip
        test = LoadTest(state_machine_arn=machine, executions=400, rate=500.0,
                        endpoint_url=emu.endpoint_url, region="us-east-1",
                        follow_interval=0.25, history_sample=1)  # fmt: skip
        report = await test.run()
    assert report.outcomes == {"SUCCEEDED": 400}
    assert any(
        "starts are behind" in w and "each StartExecution takes" in w and "64 run at once" in w
        for w in report.warnings
    ), report.warnings


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--endpoint-url", "http://127.0.0.1:1"], "cannot connect to http://127.0.0.1:1"),
        (["--endpoint-url", "127.0.0.1:8083"], "is not a valid URL"),
        (["--endpoint-url", "http://127.0.0.1:8083", "--no-credentials"], "no AWS credentials"),
    ],
)
def test_mistakes_print_one_line_and_exit_2(args: list[str], message: str) -> None:
    env = {**os.environ, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}  # fmt: skip
    if "--no-credentials" in args:
        args = [a for a in args if a != "--no-credentials"]
        env.pop("AWS_ACCESS_KEY_ID", None)
        env.pop("AWS_SECRET_ACCESS_KEY", None)
    result = subprocess.run(
        [sys.executable, "-m", "fleet._cli", "loadtest", "--state-machine",
         "arn:aws:states:us-east-1:123456789012:stateMachine:x", "--executions", "1",
         "--rate", "1", *args],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fleet: error: ")
    assert message in lines[0]
