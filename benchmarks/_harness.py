"""What every worker benchmark shares: the endpoint in its own process, a pre-queued backlog,
the three workers (ours, the baseline, the floor) as processes, and their CPU and memory."""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ROLE = "arn:aws:iam::123456789012:role/bench"
OUT = HERE / "out"
ENV = {
    **os.environ,
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "PYTHONPATH": f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    "PYTHONUNBUFFERED": "1",
}


def machine() -> dict[str, Any]:
    """The machine the numbers were measured on."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def fleet_command() -> list[str]:
    fleet = Path(sys.executable).with_name("fleet")
    return [str(fleet)] if fleet.exists() else [sys.executable, "-m", "fleet._cli"]


class Endpoint:
    """``fleet emulator`` in its own process, with its admin routes."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            # Benchmarks measure the worker beyond AWS's API quotas, so throttling is off.
            [*fleet_command(), "emulator", "--port", "0", "--throttle", "none", *args],
            stdout=subprocess.PIPE, text=True, env=ENV,
        )  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if "listening on " not in line:
            self.process.kill()
            raise SystemExit(f"the endpoint did not start: {line!r}")
        self.url = line.rsplit(" ", 1)[-1]

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/_emulator/stats", timeout=10) as response:
            result: dict[str, Any] = json.load(response)
            return result

    def close(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def unsigned_authorization(key: str = "BENCH", region: str = "us-east-1") -> str:
    """An Authorization header of the right form and no real signature.

    The endpoint checks the form of the SigV4 header, not the signature (it has no secret to
    check it with), so the raw clients send this one and skip the cost of signing.
    """
    return (
        f"AWS4-HMAC-SHA256 Credential={key}/20240101/{region}/states/aws4_request, "
        f"SignedHeaders=host;x-amz-target, Signature={'0' * 64}"
    )


def call(url: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """One call to the local endpoint (set-up only; the workers do their own)."""
    request = urllib.request.Request(
        url + "/",
        data=json.dumps(params).encode(),
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"AWSStepFunctions.{operation}",
            "Authorization": unsigned_authorization(),
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read()
    return json.loads(body) if body.strip() else {}


def make_machine(url: str, name: str, *, heartbeat: int | None = None, timeout: int | None = None,
                 retry: bool = False, context: bool = False) -> tuple[str, str]:  # fmt: skip
    """Create an activity and a one-Task state machine; return their ARNs."""
    activity = call(url, "CreateActivity", {"name": name})["activityArn"]
    state: dict[str, Any] = {"Type": "Task", "Resource": activity, "End": True}
    if heartbeat:
        state["HeartbeatSeconds"] = heartbeat
    if timeout:
        state["TimeoutSeconds"] = timeout
    if retry:
        state["Retry"] = [
            {"ErrorEquals": ["Fleet.Draining", "Fleet.Interrupted"], "IntervalSeconds": 1,
             "MaxAttempts": 5, "BackoffRate": 1.0},
            {"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 3,
             "BackoffRate": 1.0},
        ]  # fmt: skip
    if context:
        state["Parameters"] = {"input.$": "$", "enteredTime.$": "$$.State.EnteredTime",
                               "retryCount.$": "$$.State.RetryCount"}  # fmt: skip
    definition = {"StartAt": "Work", "States": {"Work": state}}
    machine = call(url, "CreateStateMachine", {
        "name": name, "definition": json.dumps(definition), "roleArn": ROLE,
    })["stateMachineArn"]  # fmt: skip
    return activity, machine


def prequeue(url: str, machine: str, count: int, payload: dict[str, Any]) -> list[str]:
    """Start ``count`` executions with the raw client; return their ARNs."""
    import asyncio

    from rawclient import RawClient

    async def run() -> list[str]:
        arns: list[str] = []
        async with RawClient(url, pool_size=32) as client:
            queue = iter(range(count))

            async def starter() -> None:
                for _ in queue:
                    answer = await client.start_execution(machine, input=json.dumps(payload))
                    arns.append(answer["executionArn"])

            await asyncio.gather(*(starter() for _ in range(32)))
        return arns

    return asyncio.run(run())


@dataclass
class Worker:
    """A worker process under measurement."""

    process: psutil.Popen
    name: str

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def rss(self) -> int:
        return int(self.process.memory_info().rss)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 130) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return int(self.process.wait(timeout))
        except (subprocess.TimeoutExpired, psutil.TimeoutExpired):
            self.process.kill()
            return None


def start_ours(url: str, app: str, *flags: str, env: dict[str, str] | None = None) -> Worker:
    """``fleet run benchmarks' app`` against ``url``."""
    command = [
        *fleet_command(), "run", app, "--endpoint-url", url, "--region", "us-east-1",
        "--metrics-port", "0", "--log-level", "WARNING", "--task-protection", "off", *flags,
    ]  # fmt: skip
    return Worker(psutil.Popen(command, env={**ENV, **(env or {})}, cwd=HERE), "ours")


def start_script(name: str, script: str, *args: str) -> Worker:
    """One of the other workers in this folder, as its own process."""
    command = [sys.executable, str(HERE / script), *args]
    return Worker(psutil.Popen(command, env=ENV, cwd=HERE), name)


def wait_for(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def histories(url: str, arns: list[str]) -> list[list[dict[str, Any]]]:
    """Every execution's history events."""
    out = []
    for arn in arns:
        out.append(call(url, "GetExecutionHistory", {"executionArn": arn, "maxResults": 1000})
                   ["events"])  # fmt: skip
    return out


def statuses(url: str, arns: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for arn in arns:
        status = call(url, "DescribeExecution", {"executionArn": arn})["status"]
        counts[status] = counts.get(status, 0) + 1
    return counts


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def save(name: str, data: dict[str, Any]) -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **data}, indent=2) + "\n")
    return path
