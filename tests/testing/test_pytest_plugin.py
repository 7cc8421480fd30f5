"""The pytest plugin's fleet_worker, used as a user would.

tests/cli/test_walkthrough.py runs a user's project with the installed plugin, in a pytest
of its own, which also checks the plugin's emulator fixture.
"""

from __future__ import annotations

from collections.abc import Callable

from fleet import Fleet, Task
from fleet.testing import LocalWorker


def test_a_failing_handler_shows_in_the_result_and_the_history(
    fleet_worker: Callable[..., LocalWorker],
) -> None:
    app = Fleet()

    @app.activity("Explode")
    async def explode(task: Task) -> None:
        raise RuntimeError("boom")

    worker = fleet_worker(app)
    result = worker.run_activity("Explode", {})
    assert (result.status, result.error) == ("FAILED", "RuntimeError")
    assert (result.cause or "").startswith("RuntimeError: boom")
    types = [event["type"] for event in worker.history(result.arn)]
    assert types[:1] == ["ExecutionStarted"]
    assert "ActivityFailed" in types
    assert types[-1] == "ExecutionFailed"


def test_a_full_state_machine_and_settings_overrides(
    fleet_worker: Callable[..., LocalWorker],
) -> None:
    app = Fleet()

    @app.activity("Add")
    def add(task: Task) -> int:
        return int(task.input["a"]) + int(task.input["b"])

    worker = fleet_worker(app, concurrency=2)
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
