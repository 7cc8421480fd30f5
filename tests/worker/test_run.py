"""A worker in-process against the local endpoint: handlers, slots, heartbeats, errors."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from aiobotocore.config import AioConfig
from support.aws import sfn_client
from support.worker import (
    RETRY_TIMEOUT,
    client,
    create_machine,
    event_types,
    history,
    running_worker,
    start,
    unique,
    wait_done,
)

from fleet import Fleet, Task, TaskFailure
from fleet._limits import MAX_CAUSE_CHARS, MAX_ERROR_CHARS
from fleet.emulator import Emulator


async def test_async_and_sync_handlers_run_to_success(endpoint: Emulator, sfn: Any) -> None:
    app = Fleet()
    async_name, sync_name = unique("Async"), unique("Sync")

    @app.activity(async_name)
    async def greet(task: Task) -> dict[str, Any]:
        await anyio.sleep(0.01)
        return {"greeting": f"Hello, {task.input['who']}", "attempt": task.attempt}

    @app.activity(sync_name)
    def blocking(task: Task) -> dict[str, Any]:
        time.sleep(0.01)
        return {"thread": threading.current_thread().name, "n": task.input["who"]}

    _, async_machine = await create_machine(sfn, async_name, context=True)
    _, sync_machine = await create_machine(sfn, sync_name)
    async with running_worker(app, endpoint.endpoint_url) as worker:
        async_runs = await start(sfn, async_machine, [{"who": i} for i in range(10)])
        sync_runs = await start(sfn, sync_machine, [{"who": i} for i in range(10)])
        done = await wait_done(sfn, async_runs + sync_runs)

    assert {d["status"] for d in done.values()} == {"SUCCEEDED"}
    for i, arn in enumerate(async_runs):
        assert json.loads(done[arn]["output"]) == {"greeting": f"Hello, {i}", "attempt": 1}
    for arn in sync_runs:
        assert json.loads(done[arn]["output"])["thread"].startswith("fleet-handler")
    started = [e for e in await history(sfn, async_runs[0]) if e["type"] == "ActivityStarted"]
    assert started[0]["activityStartedEventDetails"]["workerName"] == "test-worker"
    for name in (async_name, sync_name):
        assert worker.value("fleet_tasks_received_total", activity=name) == 10
        assert worker.value("fleet_tasks_completed_total", activity=name, outcome="succeeded") == 10
    assert worker.status == 0


async def test_no_task_is_taken_without_a_free_slot(endpoint: Emulator, sfn: Any) -> None:
    app = Fleet()
    name = unique("Slots")
    gate = anyio.Event()
    running = 0
    most = 0

    @app.activity(name, concurrency=3)
    async def hold(task: Task) -> str:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            await gate.wait()
        finally:
            running -= 1
        return "ok"

    _, machine = await create_machine(sfn, name)
    async with running_worker(app, endpoint.endpoint_url, max_pollers=8) as worker:
        first = await start(sfn, machine, [{}] * 3)
        with anyio.fail_after(10):
            while running < 3:
                await anyio.sleep(0.02)
        waiting = await start(sfn, machine, [{}] * 2)
        # Longer than a long poll: a poll holding no slot would have taken these by now.
        await anyio.sleep(1.5)
        for arn in waiting:
            assert "ActivityStarted" not in event_types(await history(sfn, arn))
        assert worker.sup is not None
        assert worker.sup.polls_in_flight == 0
        gate.set()
        done = await wait_done(sfn, first + waiting)
    assert {d["status"] for d in done.values()} == {"SUCCEEDED"}
    assert most == 3


async def test_pollers_grow_under_load_and_shrink_when_idle(endpoint: Emulator, sfn: Any) -> None:
    """Each poll that brings a task adds a poller, up to the maximum; each empty one removes one.

    Handlers wait on a gate, so the backlog stays until the test releases it: the growth is
    driven by tasks arriving, the shrinking by the endpoint's long polls ending empty, and
    neither by how fast this machine runs.
    """
    app = Fleet()
    name = unique("Adapt")
    gate = anyio.Event()
    seen: list[int] = []

    @app.activity(name)
    async def work(task: Task) -> None:
        await gate.wait()

    _, machine = await create_machine(sfn, name)
    async with running_worker(app, endpoint.endpoint_url, max_pollers=6, concurrency=64) as worker:
        assert worker.sup is not None
        pollers = worker.sup.runtimes[0].pollers
        assert pollers is not None
        assert pollers.running == 1
        arns = await start(sfn, machine, [{}] * 30)
        with anyio.fail_after(20):
            while pollers.running < 6:
                seen.append(pollers.running)
                await anyio.sleep(0.01)
        gate.set()
        await wait_done(sfn, arns, timeout=30)
        with anyio.fail_after(30):
            while pollers.running > 1:
                seen.append(pollers.running)
                await anyio.sleep(0.05)
    assert max(seen) <= 6  # never above --max-pollers
    assert pollers.target == pollers.minimum == 1


async def test_heartbeats_keep_a_task_alive_past_its_heartbeat_seconds(make_endpoint: Any) -> None:
    app = Fleet()
    name = unique("Long")

    # A heartbeat about every 0.8 s (the shortest heartbeat_seconds is 1): a busy machine would
    # have to hold the worker back 1.2 s before the service's 2 s of allowed silence ran out.
    @app.activity(name, heartbeat_seconds=1)
    async def long(task: Task) -> str:
        await anyio.sleep(4.0)
        return "done"

    # HeartbeatSeconds 4 at 2x speed: the service gives up after 2 real seconds of silence.
    async with make_endpoint(time_scale=2.0) as emu, client(emu.endpoint_url) as sfn:
        _, machine = await create_machine(sfn, name, heartbeat=4)
        async with running_worker(app, emu.endpoint_url) as worker:
            (arn,) = await start(sfn, machine, [{}])
            done = await wait_done(sfn, [arn])
            events = event_types(await history(sfn, arn))
    assert done[arn]["status"] == "SUCCEEDED"
    assert "ActivityTimedOut" not in events
    assert worker.value("fleet_heartbeats_total", activity=name, result="ok") >= 3


async def test_a_stopped_execution_cancels_its_handler_through_the_heartbeat(
    endpoint: Emulator, sfn: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = Fleet()
    name = unique("Stop")
    started = anyio.Event()
    cancelled_after: list[float] = []

    @app.activity(name, heartbeat_seconds=1.0)
    async def long(task: Task) -> str:
        started.set()
        begun = time.monotonic()
        try:
            await anyio.sleep(60)
        except anyio.get_cancelled_exc_class():
            cancelled_after.append(time.monotonic() - begun)
            raise
        return "never"

    _, machine = await create_machine(sfn, name, heartbeat=30)
    caplog.set_level(logging.INFO, logger="fleet")
    async with running_worker(app, endpoint.endpoint_url) as worker:
        (arn,) = await start(sfn, machine, [{}])
        with anyio.fail_after(10):
            await started.wait()
        await sfn.stop_execution(executionArn=arn, error="Operator", cause="no longer needed")
        # Cancelled by the first heartbeat after the stop (one task_gone below), long before
        # the handler's 60 s sleep would have ended.
        with anyio.fail_after(20):
            while not cancelled_after:
                await anyio.sleep(0.05)
        assert worker.sup is not None
        with anyio.fail_after(5):
            while worker.sup.runtimes[0].slots.in_use > 1:  # only the next poll's slot
                await anyio.sleep(0.05)
    assert worker.value("fleet_tasks_completed_total", activity=name, outcome="cancelled") == 1
    assert worker.value("fleet_heartbeats_total", activity=name, result="task_gone") == 1
    assert worker.value("fleet_api_requests_total", operation="SendTaskSuccess", outcome="ok") == 0
    assert worker.value("fleet_api_requests_total", operation="SendTaskFailure", outcome="ok") == 0
    # The lines say which task, and why: the heartbeat's answer, then the outcome.
    [gone] = [r for r in caplog.records if r.getMessage().startswith("heartbeat says the task")]
    [end] = [r for r in caplog.records if r.getMessage() == "task cancelled"]
    for record in (gone, end):
        assert record.__dict__["activity"] == name
        assert len(record.__dict__["token"]) == 12
    assert gone.__dict__["code"] in ("TaskTimedOut", "TaskDoesNotExist")
    assert (end.levelname, end.__dict__["outcome"], end.__dict__["error"]) == (
        "WARNING", "cancelled", None,
    )  # fmt: skip


async def test_a_handler_blocking_past_its_heartbeat_timeout_is_retried(
    endpoint_thread: Any,
) -> None:
    app = Fleet()
    name = unique("Blocker")

    @app.activity(name, heartbeat_seconds=1.0)
    async def blocker(task: Task) -> dict[str, int]:
        if task.attempt == 1:
            time.sleep(3.0)  # blocks the event loop: no heartbeat can go out
        return {"attempt": task.attempt or 0}

    async with client(endpoint_thread.endpoint_url) as sfn:
        _, machine = await create_machine(
            sfn, name, heartbeat=1, retry=[RETRY_TIMEOUT], context=True
        )
        async with running_worker(app, endpoint_thread.endpoint_url) as worker:
            (arn,) = await start(sfn, machine, [{}])
            done = await wait_done(sfn, [arn])
            events = event_types(await history(sfn, arn))
            lag = (await worker.scrape())[("fleet_event_loop_lag_seconds", ())]
    assert done[arn]["status"] == "SUCCEEDED"
    assert json.loads(done[arn]["output"]) == {"attempt": 2}
    assert events.count("ActivityTimedOut") == 1
    assert events.count("ActivityStarted") == 2
    # The first attempt's late result was refused: counted as cancelled, not succeeded.
    assert worker.value("fleet_tasks_completed_total", activity=name, outcome="cancelled") == 1
    assert worker.value("fleet_tasks_completed_total", activity=name, outcome="succeeded") == 1
    # The blocked loop shows in the lag gauge (the handler held it for 3 s).
    assert lag >= 2.0


def _errors_app() -> tuple[Fleet, dict[str, str]]:
    app = Fleet()
    names = {kind: unique(kind) for kind in
             ("Raises", "Custom", "NotJson", "TooLarge", "Slow", "HugeMessage")}  # fmt: skip

    @app.activity(names["Raises"])
    async def raises(task: Task) -> None:
        raise ValueError("boom 42")

    @app.activity(names["Custom"])
    async def custom(task: Task) -> None:
        raise TaskFailure("Custom.Rejected", "the input was refused")

    @app.activity(names["NotJson"])
    async def not_json(task: Task) -> object:
        return {"when": {1, 2}}

    @app.activity(names["TooLarge"])
    def too_large(task: Task) -> str:
        return "x" * 300_000

    @app.activity(names["Slow"], timeout_seconds=0.3)
    async def slow(task: Task) -> None:
        await anyio.sleep(30)

    @app.activity(names["HugeMessage"])
    async def huge(task: Task) -> None:
        raise RuntimeError("m" * 200_000)

    return app, names


async def test_every_error_name_reaches_the_execution_within_limits(
    endpoint: Emulator, sfn: Any
) -> None:
    app, names = _errors_app()
    machines = {kind: (await create_machine(sfn, name))[1] for kind, name in names.items()}
    async with running_worker(app, endpoint.endpoint_url) as worker:
        runs = {kind: (await start(sfn, machine, [{}]))[0] for kind, machine in machines.items()}
        done = await wait_done(sfn, list(runs.values()))
    failed = {kind: done[arn] for kind, arn in runs.items()}
    assert {d["status"] for d in failed.values()} == {"FAILED"}
    expected = {
        "Raises": "ValueError",
        "Custom": "Custom.Rejected",
        "NotJson": "Fleet.InvalidOutput",
        "TooLarge": "Fleet.OutputTooLarge",
        "Slow": "Fleet.Timeout",
        "HugeMessage": "RuntimeError",
    }
    assert {kind: d["error"] for kind, d in failed.items()} == expected
    assert failed["Raises"]["cause"].startswith("ValueError: boom 42")
    assert "Traceback" in failed["Raises"]["cause"]
    assert failed["Custom"]["cause"] == "the input was refused"
    assert "300,002 bytes" in failed["TooLarge"]["cause"]
    assert "timeout of 0.3 s" in failed["Slow"]["cause"]
    huge = failed["HugeMessage"]["cause"]
    assert len(huge) <= MAX_CAUSE_CHARS
    assert huge.startswith("RuntimeError: mmm")
    assert "in huge" in huge  # the failing frame survives the cut
    for d in failed.values():
        assert len(d["error"]) <= MAX_ERROR_CHARS
    for name in names.values():
        assert worker.value("fleet_tasks_completed_total", activity=name, outcome="failed") == 1


async def test_metrics_and_health_over_http_match_what_happened(
    endpoint: Emulator, sfn: Any
) -> None:
    app = Fleet()
    name = unique("Metrics")

    @app.activity(name)
    async def maybe(task: Task) -> str:
        if task.input.get("fail"):
            raise KeyError("nope")
        return "ok"

    _, machine = await create_machine(sfn, name)
    async with running_worker(app, endpoint.endpoint_url, concurrency=12) as worker:
        arns = await start(sfn, machine, [{"fail": i % 4 == 0} for i in range(12)])
        await wait_done(sfn, arns)
        await anyio.sleep(0.1)
        scraped = await worker.scrape()
        base = f"http://127.0.0.1:{worker.port}"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/healthz") as health:
                assert health.status == 200
            async with session.get(f"{base}/readyz") as ready:
                assert ready.status == 200
                assert (await ready.json())["ready"] is True
            async with session.post(f"{base}/metrics") as post:
                assert post.status == 405
            assert worker.sup is not None
            worker.sup.drain("test")
            async with session.get(f"{base}/readyz") as draining:
                assert draining.status == 503

    def get(metric: str, **labels: str) -> float:
        return scraped[(metric, tuple(sorted(labels.items())))]

    assert get("fleet_tasks_received_total", activity=name) == 12
    completed = "fleet_tasks_completed_total"
    assert get(completed, activity=name, outcome="succeeded", error="") == 9
    # The error label tells a handler's bug from the worker's own failures.
    assert get(completed, activity=name, outcome="failed", error="KeyError") == 3
    assert get(completed, activity=name, outcome="failed", error="Fleet.Timeout") == 0
    assert get("fleet_task_duration_seconds_count", activity=name, outcome="succeeded") == 9
    assert get("fleet_polls_total", activity=name, result="task") == 12
    assert get("fleet_api_requests_total", operation="SendTaskSuccess", outcome="ok") == 9
    assert get("fleet_api_requests_total", operation="SendTaskFailure", outcome="ok") == 3
    assert get("fleet_slots_capacity", activity=name) == 12
    assert get("fleet_tasks_in_flight", activity=name) == 0
    assert get("fleet_ready") == 1
    assert get("fleet_draining") == 0
    assert get("fleet_build_info", version=__import__("fleet").__version__) == 1
    assert ("process_resident_memory_bytes", ()) in scraped


README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
RUNNING_SECTION = README.split("## Running", 1)[1].split("\n## ", 1)[0]

DESIGN_METRICS = {
    "fleet_tasks_received": ("counter", {"activity"}),
    "fleet_tasks_completed": ("counter", {"activity", "outcome", "error"}),
    "fleet_task_duration_seconds": ("histogram", {"activity", "outcome"}),
    "fleet_tasks_in_flight": ("gauge", {"activity"}),
    "fleet_slots_capacity": ("gauge", {"activity"}),
    "fleet_slots_in_use": ("gauge", {"activity"}),
    "fleet_pollers": ("gauge", {"activity"}),
    "fleet_polls_in_flight": ("gauge", {"activity"}),
    "fleet_last_successful_poll_timestamp_seconds": ("gauge", {"activity"}),
    "fleet_process_slots_capacity": ("gauge", set()),
    "fleet_process_slots_in_use": ("gauge", {"holder"}),
    "fleet_polls": ("counter", {"activity", "result"}),
    "fleet_poll_duration_seconds": ("histogram", {"activity"}),
    "fleet_heartbeats": ("counter", {"activity", "result"}),
    "fleet_api_requests": ("counter", {"operation", "outcome"}),
    "fleet_api_request_duration_seconds": ("histogram", {"operation"}),
    "fleet_schedule_to_start_seconds": ("histogram", {"activity"}),
    "fleet_draining": ("gauge", set()),
    "fleet_ready": ("gauge", set()),
    "fleet_ecs_task_protection": ("gauge", set()),
    "fleet_event_loop_lag_seconds": ("gauge", set()),
    "fleet_build_info": ("gauge", {"version"}),
}


async def test_every_metric_of_the_design_is_exported_with_its_type_and_labels(
    endpoint: Emulator, sfn: Any
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    app = Fleet()
    name = unique("Names")

    @app.activity(name)
    async def ok(task: Task) -> str:
        return "ok"

    _, machine = await create_machine(sfn, name, context=True)
    async with running_worker(app, endpoint.endpoint_url) as worker:
        await wait_done(sfn, await start(sfn, machine, [{}]))
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{worker.port}/metrics") as response:
                text = await response.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for metric, (kind, labels) in DESIGN_METRICS.items():
        assert metric in families, metric
        family = families[metric]
        assert family.type == kind, metric
        seen = {k for s in family.samples for k in s.labels} - {"le"}
        assert seen == labels, metric
    # The README's "Running" section lists every metric as it is exported.
    for metric, (kind, _) in DESIGN_METRICS.items():
        short = metric.removeprefix("fleet_") + ("_total" if kind == "counter" else "")
        assert f"`{short}" in RUNNING_SECTION, metric
    start_count = [s for s in families["fleet_schedule_to_start_seconds"].samples
                   if s.name.endswith("_count")]  # fmt: skip
    assert start_count[0].value == 1  # the entered time came in through Parameters


@pytest.mark.parametrize("kinds", [("500",), ("drop",)])
async def test_injected_faults_are_retried_and_every_execution_completes(
    make_endpoint: Any, kinds: tuple[str, ...]
) -> None:
    app = Fleet()
    name = unique("Faults")

    @app.activity(name, heartbeat_seconds=1.0)
    async def work(task: Task) -> str:
        await anyio.sleep(0.05)
        return "ok"

    # The test's own calls meet the faults too: a client as patient as a careful user's, so that
    # watching the executions does not fail where the worker, the thing under test, did not.
    patient = AioConfig(retries={"mode": "standard", "max_attempts": 10})
    async with (
        make_endpoint(seed=7) as emu,
        sfn_client(emu.endpoint_url, config=patient) as sfn,
    ):
        _, machine = await create_machine(sfn, name, heartbeat=5, retry=[RETRY_TIMEOUT])
        arns = await start(sfn, machine, [{}] * 40)
        async with running_worker(app, emu.endpoint_url) as worker:
            emu.options.fault_kinds = kinds
            emu.options.fault_rate = 0.2
            try:
                done = await wait_done(sfn, arns, timeout=60)
            finally:
                emu.options.fault_rate = 0.0
    assert {d["status"] for d in done.values()} == {"SUCCEEDED"}
    outcome = "server_error" if kinds == ("500",) else "network_error"
    errors = sum(
        worker.value("fleet_api_requests_total", operation=op, outcome=outcome)
        for op in ("GetActivityTask", "SendTaskSuccess", "SendTaskHeartbeat")
    )
    assert errors > 0
    assert worker.value("fleet_tasks_completed_total", activity=name, outcome="unreported") == 0
