"""`fleet emulator` as a process: flags, the start-up line, admin control, clean exit."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from emulator_support import ROLE, task_definition

import fleet.emulator

FLEET = Path(sys.executable).with_name("fleet")


def _command(*args: str) -> list[str]:
    if FLEET.exists():
        return [str(FLEET), "emulator", *args]
    return [
        sys.executable,
        "-c",
        "import sys, fleet._cli; sys.exit(fleet._cli.main())",
        "emulator",
        *args,
    ]


@pytest.fixture
def endpoint_process() -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = subprocess.Popen(
        _command("--port", "0", "--long-poll-seconds", "1", "--time-scale", "10"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("fleet emulator: listening on http://127.0.0.1:"), line
        yield process, line.rsplit(" ", 1)[1]
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def test_help_lists_every_option() -> None:
    done = subprocess.run(
        _command("--help"), capture_output=True, text=True, timeout=30, check=True
    )
    for flag in (
        "--host",
        "--port",
        "--time-scale",
        "--long-poll-seconds",
        "--throttle",
        "--fault-rate",
        "--fault-kinds",
        "--latency",
        "--lost-polls",
        "--seed",
    ):
        assert flag in done.stdout


def test_bad_option_exits_2() -> None:
    done = subprocess.run(
        _command("--fault-rate", "3"), capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 2
    assert "fault_rate must be a number between 0 and 1" in done.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serves_and_exits_0_on_signal(
    endpoint_process: tuple[subprocess.Popen[str], str], signum: int
) -> None:
    process, url = endpoint_process
    client = boto3.client(
        "stepfunctions",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",
    )
    activity = client.create_activity(name="cli")["activityArn"]
    machine = client.create_state_machine(
        name="cli", definition=task_definition(activity), roleArn=ROLE
    )["stateMachineArn"]
    client.start_execution(stateMachineArn=machine)
    assert "taskToken" in client.get_activity_task(activityArn=activity)

    with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=10) as answer:
        stats = json.load(answer)
    assert stats["tasks_handed_out"] == 1
    request = urllib.request.Request(
        f"{url}/_emulator/options", data=b'{"fault_rate": 0.5}', method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert json.load(answer)["fault_rate"] == 0.5

    process.send_signal(signum)
    assert process.wait(timeout=10) == 0


def test_public_names() -> None:
    assert sorted(fleet.emulator.__all__) == [
        "Emulator",
        "EmulatorOptions",
        "EmulatorStats",
        "ThreadedEmulator",
    ]
