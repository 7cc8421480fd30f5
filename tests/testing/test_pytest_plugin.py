"""The pytest plugin: a user's integration test with the fixtures, run as a user would run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fleet import Fleet, Task
from fleet.testing import LocalWorker

USER_APP = """
from fleet import Fleet, Task

app = Fleet()


@app.activity("Greet")
async def greet(task: Task) -> dict:
    return {"greeting": f"Hello, {task.input['who']}"}
"""

# The README's example: an integration test in a project with no conftest.
USER_TEST = """
from greeter import app


def test_greets(fleet_worker):
    worker = fleet_worker(app)
    result = worker.run_activity("Greet", {"who": "Ada"})
    assert result.status == "SUCCEEDED"
    assert result.output == {"greeting": "Hello, Ada"}


async def test_an_async_test_can_use_it_too(emulator, fleet_worker):
    worker = fleet_worker(app)
    assert worker.endpoint_url == emulator.endpoint_url
    assert worker.run_activity("Greet", {"who": "Bob"}).output == {"greeting": "Hello, Bob"}
"""


@pytest.mark.slow
def test_a_users_integration_test_passes_with_the_installed_plugin(tmp_path: Path) -> None:
    (tmp_path / "greeter.py").write_text(USER_APP)
    (tmp_path / "test_greeter.py").write_text(USER_TEST)
    first_test = USER_TEST.strip().split("\n\n\nasync def")[0]
    assert len(first_test.splitlines()) < 15  # imports included
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "-o", "asyncio_mode=auto", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_a_failing_handler_shows_in_the_result_and_the_history(
    fleet_worker: type[LocalWorker],
) -> None:
    app = Fleet()

    @app.activity("Explode")
    async def explode(task: Task) -> None:
        raise RuntimeError("boom")

    worker = fleet_worker(app)  # type: ignore[call-arg]
    result = worker.run_activity("Explode", {})
    assert (result.status, result.error) == ("FAILED", "RuntimeError")
    assert (result.cause or "").startswith("RuntimeError: boom")
    types = [event["type"] for event in worker.history(result.arn)]
    assert types[:1] == ["ExecutionStarted"]
    assert "ActivityFailed" in types
    assert types[-1] == "ExecutionFailed"


def test_a_full_state_machine_and_settings_overrides(fleet_worker: type[LocalWorker]) -> None:
    app = Fleet()

    @app.activity("Add")
    def add(task: Task) -> int:
        return int(task.input["a"]) + int(task.input["b"])

    worker = fleet_worker(app, concurrency=2)  # type: ignore[call-arg]
    assert worker.status is None
    machine = worker.create_state_machine(
        {
            "StartAt": "Add",
            "States": {
                "Add": {"Type": "Task", "Resource": worker.activity_arn("Add"),
                        "ResultPath": "$.sum", "Next": "Done"},
                "Done": {"Type": "Pass", "End": True},
            },
        }
    )  # fmt: skip
    result = worker.execute(machine, {"a": 2, "b": 40})
    assert result.output == {"a": 2, "b": 40, "sum": 42}
    assert worker.stop() == 0
