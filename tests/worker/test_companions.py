"""What runs beside the pollers: ECS task protection, embedded metrics, and token hygiene."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from aiohttp import web
from support.worker import create_machine, running_worker, start, unique, wait_done

from fleet import Fleet, Task
from fleet._api import Api
from fleet._metrics import Metrics
from fleet._protection import TaskProtection
from fleet.emulator import Emulator


class FakeEcsAgent:
    """The ECS agent's task-protection endpoint, on loopback, recording every request."""

    def __init__(self) -> None:
        self.puts: list[dict[str, Any]] = []
        self.fail_next = 0

    async def handle(self, request: web.Request) -> web.Response:
        if self.fail_next:
            self.fail_next -= 1
            return web.json_response({"error": "agent busy"}, status=500)
        body = await request.json()
        self.puts.append(body)
        return web.json_response({"protection": {"ProtectionEnabled": body["ProtectionEnabled"]}})


@pytest.fixture
async def agent(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeEcsAgent]:
    fake = FakeEcsAgent()
    app = web.Application()
    app.router.add_put("/task-protection/v1/state", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    monkeypatch.setenv("ECS_AGENT_URI", f"http://127.0.0.1:{port}")
    yield fake
    await runner.cleanup()


async def test_scale_in_protection_is_on_while_busy_and_off_when_idle(
    endpoint: Emulator, sfn: Any, agent: FakeEcsAgent
) -> None:
    app = Fleet()
    name = unique("Protect")
    gate = anyio.Event()

    @app.activity(name)
    async def hold(task: Task) -> None:
        await gate.wait()

    _, machine = await create_machine(sfn, name)
    agent.fail_next = 1  # the first attempt fails: logged and counted, never fatal
    async with running_worker(
        app, endpoint.endpoint_url, task_protection="auto", task_protection_idle_seconds=0.5
    ) as worker:
        arns = await start(sfn, machine, [{}])
        with anyio.fail_after(15):
            while not agent.puts:
                await anyio.sleep(0.05)
        assert agent.puts == [{"ProtectionEnabled": True, "ExpiresInMinutes": 60}]
        assert (await worker.scrape())[("fleet_ecs_task_protection", ())] == 1
        gate.set()
        await wait_done(sfn, arns)
        with anyio.fail_after(10):
            while len(agent.puts) < 2:
                await anyio.sleep(0.05)
        assert agent.puts[1] == {"ProtectionEnabled": False}
        assert (await worker.scrape())[("fleet_ecs_task_protection", ())] == 0
    assert worker.value("fleet_api_requests_total", operation="TaskProtection",
                        outcome="server_error") == 1  # fmt: skip
    assert worker.value("fleet_api_requests_total", operation="TaskProtection", outcome="ok") == 2


async def test_protection_goes_on_when_the_first_task_arrives_not_at_the_next_check(
    agent: FakeEcsAgent,
) -> None:
    # A deployment stops every unprotected task at once: a worker that took a task must not
    # wait for its periodic check (an hour here) before it asks for protection.
    in_flight = 0
    looked = anyio.Event()
    change = anyio.Event()

    def busy() -> bool:
        looked.set()
        return in_flight > 0

    protection = TaskProtection(
        os.environ["ECS_AGENT_URI"],
        busy=busy,
        changes=lambda: change,
        metrics=Metrics(),
        check_seconds=3600,
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(protection.run)
        with anyio.fail_after(10):
            await looked.wait()  # the first check found the worker idle: no request
        assert agent.puts == []
        in_flight = 1  # a task arrives; the supervisor announces the change, as it does
        change.set()
        change = anyio.Event()
        with anyio.fail_after(10):
            while not agent.puts:
                await anyio.sleep(0.02)
        assert agent.puts == [{"ProtectionEnabled": True, "ExpiresInMinutes": 60}]
        assert protection.enabled
        tg.cancel_scope.cancel()
    assert agent.puts[-1] == {"ProtectionEnabled": False}  # released on the way out


async def test_slot_utilisation_is_published_as_embedded_metrics(
    endpoint: Emulator, sfn: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    app = Fleet()
    name = unique("Emf")
    gate = anyio.Event()

    @app.activity(name, concurrency=4)
    async def hold(task: Task) -> None:
        await gate.wait()

    _, machine = await create_machine(sfn, name)
    async with running_worker(
        app, endpoint.endpoint_url, concurrency=4, cloudwatch_namespace="SfnFleet",
        service_name="hello-stack", cloudwatch_interval_seconds=0.2,
    ) as worker:  # fmt: skip
        arns = await start(sfn, machine, [{}] * 4)
        with anyio.fail_after(10):
            while worker.sup is not None and worker.sup.in_flight < 4:
                await anyio.sleep(0.05)
        await anyio.sleep(0.5)
        gate.set()
        await wait_done(sfn, arns)
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    # A slot held by a waiting poll is idle capacity: an idle worker reports 0 utilisation.
    idle = [r for r in records if r.get("Activity") is None and r["TasksInFlight"] == 0]
    assert idle
    assert all(r["SlotUtilization"] == 0 for r in idle)
    assert any(r["SlotsInUse"] > 0 for r in idle)
    full = [r for r in records if r.get("Activity") is None and r["SlotUtilization"] == 100.0]
    assert full, records[:3]
    record = full[0]
    directive = record["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "SfnFleet"
    assert directive["Dimensions"] == [["ServiceName"]]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]}["SlotUtilization"] == "Percent"
    assert record["ServiceName"] == "hello-stack"
    assert (record["SlotsInUse"], record["SlotsCapacity"], record["TasksInFlight"]) == (4, 4, 4)
    per_activity = [r for r in records if r.get("Activity") == name]
    assert per_activity[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [
        ["ServiceName", "Activity"]
    ]


async def test_no_task_token_appears_in_any_log_line(
    endpoint: Emulator, sfn: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    tokens: set[str] = set()
    real_call = Api.call

    async def spy(self: Api, operation: str, **params: Any) -> Any:
        response = await real_call(self, operation, **params)
        if operation == "GetActivityTask" and response.get("taskToken"):
            tokens.add(response["taskToken"])
        return response

    monkeypatch.setattr(Api, "call", spy)
    app = Fleet()
    name = unique("Tokens")

    @app.activity(name, heartbeat_seconds=1)
    async def mixed(task: Task) -> str:
        task.log.info("working on it")
        await anyio.sleep(1.0)  # past the first automatic heartbeat, at ~0.8 s
        if task.input.get("fail"):
            raise RuntimeError("failing on purpose")
        return "ok"

    _, machine = await create_machine(sfn, name)
    caplog.set_level(logging.DEBUG, logger="fleet")
    async with running_worker(app, endpoint.endpoint_url) as worker:
        arns = await start(sfn, machine, [{"fail": i % 2 == 0} for i in range(6)])
        await wait_done(sfn, arns)
        await sfn.stop_execution(executionArn=(await start(sfn, machine, [{}]))[0])
        assert worker.sup is not None
        worker.sup.drain("test")
    assert len(tokens) >= 6
    text = "\n".join(
        logging.Formatter().format(record) + json.dumps(vars(record), default=str)
        for record in caplog.records
    )
    assert "working on it" in text
    for token in tokens:
        assert token not in text
        assert token[:40] not in text
    hashed = {getattr(record, "token", None) for record in caplog.records} - {None}
    assert hashed
    assert all(len(h) == 12 for h in hashed)


async def test_embedded_metrics_write_a_last_sample_when_the_worker_stops() -> None:
    import io

    from fleet._emf import publish
    from fleet._metrics import ActivitySnapshot, Snapshot

    out = io.StringIO()
    snap = Snapshot(
        activities=(ActivitySnapshot("A", 3, 4, 4, 1, 1),), concurrency=4, process_slots_capacity=4
    )
    async with anyio.create_task_group() as tg:
        # An hour between samples: without the last one, a short-lived worker publishes none.
        tg.start_soon(lambda: publish(lambda: snap, namespace="N", service="S", interval=3600,
                                      out=out))  # fmt: skip
        await anyio.sleep(0.05)
        tg.cancel_scope.cancel()
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r.get("Activity") for r in records] == [None, "A"]
    assert records[0]["TasksInFlight"] == 3
