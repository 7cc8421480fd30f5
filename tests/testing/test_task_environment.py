"""fleet.testing.TaskEnvironment: a handler run on a fake task, as a worker would run it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import anyio
import anyio.lowlevel
import pytest

from fleet import Fleet, Task, TaskFailure
from fleet.testing import TaskCancelled, TaskEnvironment, TaskFailed


async def test_output_is_what_step_functions_would_receive() -> None:
    async def hello(task: Task) -> dict[str, object]:
        task.heartbeat()
        task.heartbeat()
        return {"greeting": f"Hello, {task.input['who']}", "attempt": task.attempt,
                "execution": task.execution_id, "entered": task.entered_time.isoformat()}  # type: ignore[union-attr]  # fmt: skip

    entered = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    env = TaskEnvironment(attempt=3, entered_time=entered, execution_id="arn:exec")
    output = await env.run(hello, {"who": "Ada"})
    assert output == {"greeting": "Hello, Ada", "attempt": 3, "execution": "arn:exec",
                      "entered": "2026-01-02T03:04:05+00:00"}  # fmt: skip
    assert len(env.heartbeats) == 2
    assert env.heartbeats == sorted(env.heartbeats)


async def test_plain_def_handlers_run_in_a_thread() -> None:
    def blocking(task: Task) -> dict[str, object]:
        task.heartbeat()
        return {"thread": threading.current_thread() is not threading.main_thread()}

    env = TaskEnvironment()
    assert await env.run(blocking, None) == {"thread": True}
    assert len(env.heartbeats) == 1


async def test_exceptions_fail_the_task_with_the_class_name_and_traceback() -> None:
    async def broken(task: Task) -> None:
        raise KeyError("missing")

    with pytest.raises(TaskFailed) as failed:
        await TaskEnvironment().run(broken, {})
    assert failed.value.error == "KeyError"
    assert failed.value.cause.startswith("KeyError: 'missing'")
    assert "Traceback" in failed.value.cause


async def test_task_failure_chooses_error_and_cause() -> None:
    async def refuse(task: Task) -> None:
        raise TaskFailure("Order.Rejected", "card declined")

    with pytest.raises(TaskFailed) as failed:
        await TaskEnvironment().run(refuse, {})
    assert (failed.value.error, failed.value.cause) == ("Order.Rejected", "card declined")


async def test_results_that_cannot_be_sent_fail_like_in_a_worker() -> None:
    async def a_set(task: Task) -> object:
        return {1, 2}

    async def huge(task: Task) -> object:
        return "x" * 300_000

    with pytest.raises(TaskFailed) as failed:
        await TaskEnvironment().run(a_set, {})
    assert failed.value.error == "Fleet.InvalidOutput"
    with pytest.raises(TaskFailed) as failed:
        await TaskEnvironment().run(huge, {})
    assert failed.value.error == "Fleet.OutputTooLarge"


async def test_the_handlers_own_timeout() -> None:
    app = Fleet()

    @app.activity("Slow", timeout_seconds=0.05)
    async def slow(task: Task) -> None:
        await anyio.sleep_forever()

    with pytest.raises(TaskFailed) as failed:
        await TaskEnvironment().run(app.activities[0], {})
    assert failed.value.error == "Fleet.Timeout"
    assert "timeout of 0.05 s" in failed.value.cause
    with pytest.raises(TaskFailed, match=r"Fleet\.Timeout"):
        await TaskEnvironment(timeout_seconds=0.05).run(slow, {})


async def test_cancellation_on_demand_sends_no_result() -> None:
    env = TaskEnvironment()
    env.on_heartbeat = lambda task: env.cancel() if len(env.heartbeats) == 3 else None
    steps = []

    async def loop(task: Task) -> None:
        while True:
            steps.append(1)
            task.heartbeat()
            await anyio.lowlevel.checkpoint()

    with pytest.raises(TaskCancelled, match="cancelled by the test"):
        await env.run(loop, {})
    assert len(env.heartbeats) == 3
    assert len(steps) == 3


async def test_cancel_from_another_task() -> None:
    env = TaskEnvironment()
    started = anyio.Event()

    async def waits(task: Task) -> None:
        started.set()
        await anyio.sleep_forever()

    async def cancel_when_started() -> None:
        await started.wait()
        env.cancel("the execution was stopped")

    async with anyio.create_task_group() as tg:
        tg.start_soon(cancel_when_started)
        with pytest.raises(TaskCancelled, match="the execution was stopped"):
            await env.run(waits, {})
    assert env.cancelled


async def test_a_heartbeat_answering_task_timed_out_cancels_async_handlers() -> None:
    env = TaskEnvironment()
    env.heartbeat_error = "TaskTimedOut"

    async def beats(task: Task) -> str:
        task.heartbeat()
        await anyio.sleep_forever()
        return "unreachable"

    with pytest.raises(TaskCancelled, match="TaskTimedOut"):
        await env.run(beats, {})


async def test_a_plain_handler_sees_cancelled_after_task_timed_out() -> None:
    env = TaskEnvironment()
    seen = []
    finished = threading.Event()

    def beats(task: Task) -> str:
        seen.append(task.cancelled)
        env.heartbeat_error = "TaskTimedOut"
        task.heartbeat()
        seen.append(task.cancelled)
        finished.set()
        return "done anyway"

    # As in a worker, the run ends at the cancellation; the thread finishes on its own.
    with pytest.raises(TaskCancelled):
        await env.run(beats, {})
    assert await anyio.to_thread.run_sync(finished.wait, 10)
    assert seen == [False, True]


def test_a_synchronous_test_can_use_anyio_run() -> None:
    def double(task: Task) -> int:
        return int(task.input) * 2

    assert anyio.run(TaskEnvironment().run, double, 21) == 42


def test_the_module_docstring_example_runs() -> None:
    import doctest

    import fleet.testing

    failed, attempted = doctest.testmod(fleet.testing)
    assert (failed, attempted > 0) == (0, True)
