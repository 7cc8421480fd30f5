"""``fleet executions``: start, list, describe, history and stop against the local endpoint."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from fleet import Fleet, Task
from fleet._cli import main
from fleet.testing import LocalWorker

app = Fleet()


@app.activity("Greet")
async def greet(task: Task) -> dict[str, str]:
    import anyio

    await anyio.sleep(0.2)
    if task.input.get("fail"):
        raise ValueError("no greeting for you")
    return {"greeting": f"Hello, {task.input['who']}"}


def fleet(capsys: pytest.CaptureFixture[str], endpoint: str, *args: str) -> tuple[int, str, str]:
    status = main(["executions", *args, "--endpoint-url", endpoint])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def machine(fleet_worker: Callable[..., LocalWorker]) -> tuple[LocalWorker, str]:
    worker = fleet_worker(app)
    arn = worker.create_state_machine(
        {"StartAt": "Greet", "States": {
            "Greet": {"Type": "Task", "Resource": worker.activity_arn("Greet"), "Next": "Done"},
            "Done": {"Type": "Pass", "End": True}}},
        name="hello",
    )  # fmt: skip
    return worker, arn


def test_start_and_wait_prints_the_outcome(
    machine: tuple[LocalWorker, str], capsys: pytest.CaptureFixture[str]
) -> None:
    worker, arn = machine
    status, out, _ = fleet(capsys, worker.endpoint_url, "start", "hello",
                           "--input", '{"who": "Ada"}', "--wait")  # fmt: skip
    assert status == 0
    assert re.search(r"^status\s+SUCCEEDED$", out, re.M)
    assert '{"greeting":"Hello, Ada"}' in out
    status, out, _ = fleet(capsys, worker.endpoint_url, "start", arn, "--name", "plain")
    assert (status, out.strip()) == (0, arn.replace(":stateMachine:", ":execution:") + ":plain")


def test_a_failed_execution_exits_1_and_its_history_shows_error_cause_and_durations(
    machine: tuple[LocalWorker, str], capsys: pytest.CaptureFixture[str]
) -> None:
    worker, arn = machine
    status, out, _ = fleet(capsys, worker.endpoint_url, "start", "hello", "--input",
                           '{"fail": true}', "--name", "bad", "--wait")  # fmt: skip
    assert status == 1
    assert re.search(r"^error\s+ValueError$", out, re.M)
    assert "ValueError: no greeting for you" in out
    execution = arn.replace(":stateMachine:", ":execution:") + ":bad"
    status, out, _ = fleet(capsys, worker.endpoint_url, "history", execution)
    assert status == 0
    lines = out.splitlines()
    kinds = [line.split()[1] for line in lines if line.lstrip().startswith("+")]
    assert kinds == ["ExecutionStarted", "TaskStateEntered", "ActivityScheduled",
                     "ActivityStarted", "ActivityFailed", "ExecutionFailed"]  # fmt: skip
    started = next(line for line in lines if "ActivityStarted" in line)
    assert re.search(r"Greet\s+waited \d+\.\d{3}s\s+worker fleet-test-worker", started)
    failed = next(line for line in lines if "ActivityFailed" in line)
    ran = float(re.search(r"ran (\d+\.\d+)s", failed).group(1))  # type: ignore[union-attr]
    assert ran >= 0.2  # the handler slept 0.2 s (the endpoint's clock)
    assert "error ValueError" in failed
    assert "cause: ValueError: no greeting for you" in out
    assert "Traceback (most recent call last)" in out
    assert "cause: (as above)" in out  # ExecutionFailed repeats the task's cause


def test_list_describe_and_json(
    machine: tuple[LocalWorker, str], capsys: pytest.CaptureFixture[str]
) -> None:
    worker, arn = machine
    ok = worker.execute(arn, {"who": "Bo"})
    bad = worker.execute(arn, {"fail": True})
    status, out, _ = fleet(capsys, worker.endpoint_url, "list", "hello")
    assert status == 0
    rows = out.splitlines()
    assert rows[0].split() == ["NAME", "STATUS", "STARTED", "DURATION"]
    assert [row.split()[1] for row in rows[1:]] == ["FAILED", "SUCCEEDED"]  # newest first
    _, out, _ = fleet(capsys, worker.endpoint_url, "list", "hello", "--status", "SUCCEEDED",
                      "--json")  # fmt: skip
    assert [item["executionArn"] for item in json.loads(out)] == [ok.arn]
    _, out, _ = fleet(capsys, worker.endpoint_url, "describe", bad.arn, "--json")
    described = json.loads(out)
    assert (described["status"], described["error"]) == ("FAILED", "ValueError")


def test_stop_a_running_execution(fleet_worker: Callable[..., LocalWorker],
                                  capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    idle = Fleet()

    @idle.activity("Never")
    async def never(task: Task) -> None: ...

    worker = fleet_worker(idle)
    worker.stop()  # nobody polls: the execution waits in its Task state
    machine = worker.create_state_machine(
        {"StartAt": "W", "States": {"W": {"Type": "Task", "Resource":
                                          worker.activity_arn("Never"), "End": True}}}
    )  # fmt: skip
    execution = worker.start_execution(machine, {})
    status, out, _ = fleet(capsys, worker.endpoint_url, "stop", execution, "--error", "Ops.Stop",
                           "--cause", "not needed")  # fmt: skip
    assert status == 0
    assert out.startswith(f"stopped {execution} at ")
    result = worker.wait(execution)
    assert (result.status, result.error, result.cause) == ("ABORTED", "Ops.Stop", "not needed")


@pytest.mark.slow
def test_mistakes_get_one_line_and_exit_2(
    fleet_endpoint: object, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = fleet_endpoint.endpoint_url  # type: ignore[attr-defined]
    missing = "arn:aws:states:us-east-1:123456789012:execution:hello:nope"
    cases = {
        "ExecutionDoesNotExist": ["describe", missing],
        "no state machine named 'nope'": ["list", "nope"],
        "--input is not JSON": [
            "start",
            "arn:aws:states:us-east-1:123456789012:stateMachine:x",
            "--input",
            "{oops",
        ],
    }
    for message, args in cases.items():
        status, _, err = fleet(capsys, endpoint, *args)
        assert status == 2
        assert err.startswith("fleet: error: "), err
        assert message in err, err
        assert len(err.strip().splitlines()) == 1
    # A port nobody listens on, and a URL that is not one.
    for url, message in (("http://127.0.0.1:1", "cannot connect to http://127.0.0.1:1"),
                         ("127.0.0.1:8083", "is not a valid URL")):  # fmt: skip
        assert main(["executions", "list", "x", "--endpoint-url", url]) == 2
        err = capsys.readouterr().err
        assert message in err, err
        assert len(err.strip().splitlines()) == 1, err
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert main(["executions", "list", "x", "--endpoint-url", endpoint]) == 2
    err = capsys.readouterr().err
    assert "no AWS credentials found" in err
    assert "local endpoint accepts any" in err
