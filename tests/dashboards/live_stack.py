"""The live stack of the dashboard tests: endpoint, `fleet run` worker and a real Prometheus.

One stack serves the whole test package: a local Step Functions endpoint in a thread, a worker
started with the real CLI, and Prometheus (Debian's package) scraping the worker every second.
Executions are driven through it (some fail, some run long enough to heartbeat), then every
query is evaluated at one instant after the last scrape, so results do not depend on how long
the tests take.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from dashboards_support import Exposition
from support.ports import free_port

from fleet.emulator import Emulator, EmulatorOptions

REGION = "us-east-1"
ACTIVITY = "DashboardsActivity"
SUCCEEDING = 8
FAILING = 3
HEARTBEATING = 2  # of the succeeding ones, run long enough to heartbeat

APP = f"""
import anyio
from fleet import Fleet, Task

app = Fleet()


@app.activity({ACTIVITY!r}, heartbeat_seconds=1.0)
async def work(task: Task) -> dict:
    await anyio.sleep(task.input.get("sleep", 0))
    if task.input.get("fail"):
        raise ValueError("asked to fail")
    return {{"done": True}}
"""

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
}


class PromQLError(Exception):
    """Prometheus rejected a query (HTTP 400 on a parse or evaluation error)."""


@dataclass
class Live:
    """The running stack, as the tests see it."""

    prometheus_url: str
    activity: str
    instance: str
    job: str = "fleet"
    #: When every query is evaluated (Unix time); None while the stack is being set up.
    eval_time: float | None = None
    #: The worker's /metrics at that time.
    exposition: Exposition | None = None

    def api(self, path: str, **params: Any) -> Any:
        """GET Prometheus's HTTP API; return ``data``, or raise PromQLError on a 4xx."""
        query = urllib.parse.urlencode(params, doseq=True)
        url = f"{self.prometheus_url}/api/v1/{path}?{query}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            with exc:
                if exc.code != 400:
                    raise
                raise PromQLError(json.load(exc).get("error", str(exc))) from None
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector ``expr`` evaluates to at the evaluation time (or now)."""
        params = {"query": expr}
        if self.eval_time is not None:
            params["time"] = f"{self.eval_time:.3f}"
        data = self.api("query", **params)
        assert data["resultType"] == "vector", (expr, data["resultType"])
        return list(data["result"])


def _wait(what: str, check: Any, timeout: float, process: subprocess.Popen[bytes]) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = check()
        except (OSError, urllib.error.URLError, PromQLError):
            found = None
        if found:
            return found
        if process.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.1)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _start_worker(tmp: Path, endpoint_url: str, port: int) -> subprocess.Popen[bytes]:
    (tmp / "dashboards_app.py").write_text(APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLEET_", "AWS_"))}
    env.update(CREDENTIALS, PYTHONPATH=str(tmp))
    env.pop("ECS_AGENT_URI", None)
    command = [
        sys.executable, "-m", "fleet._cli", "run", "dashboards_app:app",
        "--endpoint-url", endpoint_url, "--region", REGION,
        "--metrics-port", str(port), "--min-pollers", "1", "--max-pollers", "4",
        "--concurrency", "16", "--worker-name", "dashboards", "--log-format", "json",
        "--task-protection", "off",
    ]  # fmt: skip
    log = (tmp / "worker.log").open("wb")
    with log:
        return subprocess.Popen(command, env=env, cwd=tmp, stdout=log, stderr=log)


def _start_prometheus(tmp: Path, port: int, target: str) -> subprocess.Popen[bytes]:
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError("prometheus not found: install the `prometheus` package (scripts/test)")
    config = tmp / "prometheus.yml"
    config.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: fleet\n"
        "    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    command = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    log = (tmp / "prometheus.log").open("wb")
    with log:
        return subprocess.Popen(command, cwd=tmp, stdout=log, stderr=log)


def _client(endpoint_url: str) -> Any:
    return boto3.client(
        "stepfunctions",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _create_machine(sfn: Any) -> str:
    """Create the activity and a one-Task state machine over it; return the machine's ARN."""
    activity_arn = sfn.create_activity(name=ACTIVITY)["activityArn"]
    task = {
        "Type": "Task",
        "Resource": activity_arn,
        "HeartbeatSeconds": 10,
        "TimeoutSeconds": 60,
        # The entered time is what fleet_schedule_to_start_seconds measures from.
        "Parameters": {
            "input.$": "$",
            "enteredTime.$": "$$.State.EnteredTime",
            "retryCount.$": "$$.State.RetryCount",
        },
        "End": True,
    }
    return str(
        sfn.create_state_machine(
            name="dashboards",
            definition=json.dumps({"StartAt": "Work", "States": {"Work": task}}),
            roleArn="arn:aws:iam::123456789012:role/dashboards",
        )["stateMachineArn"]
    )


def _run_executions(sfn: Any, machine: str, inputs: list[dict[str, Any]] | None = None) -> int:
    """Run executions to their end: quick ones, ones that heartbeat, failing ones."""
    if inputs is None:
        inputs = (
            [{"sleep": 0.05}] * (SUCCEEDING - HEARTBEATING)
            + [{"sleep": 1.6}] * HEARTBEATING
            + [{"fail": True}] * FAILING
        )
    arns = [
        sfn.start_execution(stateMachineArn=machine, input=json.dumps(value))["executionArn"]
        for value in inputs
    ]
    deadline = time.monotonic() + 30
    pending = set(arns)
    while pending:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} executions still running")
        for arn in list(pending):
            if sfn.describe_execution(executionArn=arn)["status"] != "RUNNING":
                pending.discard(arn)
        time.sleep(0.1)
    return len(arns)


def _value(stack: Live, expr: str) -> float | None:
    result = stack.query(expr)
    return float(result[0]["value"][1]) if result else None


@contextmanager
def running_stack(tmp: Path) -> Iterator[Live]:
    """Start the stack in ``tmp``, run the executions, wait for the scrape; stop it on exit."""
    worker_port, prometheus_port = free_port(), free_port()
    instance = f"127.0.0.1:{worker_port}"
    stack = Live(f"http://127.0.0.1:{prometheus_port}", ACTIVITY, instance)
    with Emulator.in_thread(EmulatorOptions(long_poll_seconds=1.0)) as emulator:
        sfn = _client(emulator.endpoint_url)
        worker = prometheus = None
        try:
            machine = _create_machine(sfn)
            worker = _start_worker(tmp, emulator.endpoint_url, worker_port)
            _wait("worker ready", lambda: _get(f"http://{instance}/readyz") is not None, 20, worker)
            # A failure's `error` label is known only when it happens, and rate() cannot count
            # the first value of a series: one failure before Prometheus starts makes the
            # series the measured failures are counted on exist from the first scrape, like
            # every other series.
            warm_up = _run_executions(sfn, machine, [{"fail": True}])
            prometheus = _start_prometheus(tmp, prometheus_port, instance)
            # Rates need a sample from before the executions: wait for a scrape of the idle worker.
            _wait("first scrape", lambda: _value(stack, 'fleet_ready{job="fleet"}'), 20, prometheus)
            total = warm_up + _run_executions(sfn, machine)
            finished = 'sum(fleet_tasks_completed_total{outcome=~"succeeded|failed"})'
            _wait("outcomes scraped", lambda: _value(stack, finished) == total, 20, prometheus)
            time.sleep(1.5)  # one more scrape, so the gauges show the worker idle again
            stack.eval_time = time.time()
            stack.exposition = Exposition.parse(_get(f"http://{instance}/metrics"))
            yield stack
        finally:
            sfn.close()
            for process in (prometheus, worker):
                if process is not None:
                    _stop(process)
