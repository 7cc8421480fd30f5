"""A worker superseded by a newer ECS deployment finishes its tasks, releases protection, exits 0.

ECS is moto's server; the task metadata endpoint and the agent's task-protection endpoint are
a small fake on loopback; Step Functions is the local endpoint in this event loop.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import boto3
import pytest
from aiohttp import web
from support.moto import moto_server
from support.worker import RETRY_FLEET, create_machine, running_worker, start, unique, wait_done

from fleet import Fleet, Task
from fleet._supervisor import Mode
from fleet.emulator import Emulator

CLUSTER = "fleet"
SERVICE = "workers"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    # Every deployment moto creates reports one running task.
    with moto_server(MOTO_ECS_SERVICE_RUNNING="1") as url:
        yield url


@dataclass
class Ecs:
    """A cluster, task definition and service in moto; tasks started as a deployment would."""

    client: Any
    task_definition: str
    cluster_arn: str = ""

    def primary(self) -> str:
        service = self.client.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0]
        return next(d["id"] for d in service["deployments"] if d["status"] == "PRIMARY")

    def start_task(self, started_by: str | None) -> str:
        """A task of the service's current deployment (or a standalone one); its ARN."""
        extra = {"startedBy": started_by, "group": f"service:{SERVICE}"} if started_by else {}
        found = self.client.run_task(
            cluster=CLUSTER, taskDefinition=self.task_definition, launchType="FARGATE", **extra
        )
        return str(found["tasks"][0]["taskArn"])

    def create_service(self, desired: int) -> None:
        """The service, afresh, wanting ``desired`` tasks (moto reports one running)."""
        services = self.client.describe_services(cluster=CLUSTER, services=[SERVICE])
        if any(s["status"] == "ACTIVE" for s in services["services"]):
            self.client.delete_service(cluster=CLUSTER, service=SERVICE, force=True)
        self.client.create_service(
            cluster=CLUSTER,
            serviceName=SERVICE,
            taskDefinition=self.task_definition,
            desiredCount=desired,
        )

    def new_deployment(self) -> str:
        self.client.update_service(cluster=CLUSTER, service=SERVICE, forceNewDeployment=True)
        return self.primary()


@pytest.fixture
def ecs(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Ecs:
    """ECS in moto, reached by the worker through botocore's per-service endpoint variable."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECS", moto_url)
    reset = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(reset, timeout=10):
        pass
    client = boto3.client("ecs", endpoint_url=moto_url, region_name="us-east-1")
    cluster = client.create_cluster(clusterName=CLUSTER)["cluster"]["clusterArn"]
    td = client.register_task_definition(
        family="worker", containerDefinitions=[{"name": "worker", "image": "x", "memory": 512}]
    )["taskDefinition"]["taskDefinitionArn"]
    service = Ecs(client, td, cluster)
    service.create_service(desired=1)
    return service


@dataclass
class FakeTaskEndpoints:
    """Task metadata v4 and the agent's task protection, one path prefix per task."""

    ecs: Ecs
    base: str = ""
    protection: dict[str, list[bool]] = field(default_factory=dict)
    up: bool = True

    async def metadata(self, request: web.Request) -> web.Response:
        if not self.up:
            return web.json_response({"error": "not yet"}, status=503)
        arn = self.tasks[request.match_info["task"]]
        return web.json_response({"Cluster": self.ecs.cluster_arn, "TaskARN": arn})

    async def protect(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.protection.setdefault(request.match_info["task"], []).append(body["ProtectionEnabled"])
        return web.json_response({"protection": body})

    tasks: dict[str, str] = field(default_factory=dict)

    def become(self, monkeypatch: pytest.MonkeyPatch, task_arn: str) -> str:
        """Point the next worker started in this process at task ``task_arn``; its key."""
        key = task_arn.rsplit("/", 1)[-1]
        self.tasks[key] = task_arn
        monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", f"{self.base}/{key}")
        monkeypatch.setenv("ECS_AGENT_URI", f"{self.base}/{key}")
        return key


@pytest.fixture
async def endpoints(ecs: Ecs) -> AsyncIterator[FakeTaskEndpoints]:
    fake = FakeTaskEndpoints(ecs)
    app = web.Application()
    app.router.add_get("/{task}/task", fake.metadata)
    app.router.add_put("/{task}/task-protection/v1/state", fake.protect)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.base = f"http://127.0.0.1:{port}"
    yield fake
    await runner.cleanup()


def generation(number: int, name: str, gate: anyio.Event | None = None) -> Fleet:
    """A worker app whose handler says which generation ran it."""
    app = Fleet()

    @app.activity(name, heartbeat_seconds=20)
    async def work(task: Task) -> dict[str, Any]:
        if gate is not None:
            await gate.wait()
        else:
            await anyio.sleep(0.05)
        return {"generation": number, "n": task.input["n"]}

    return app


WATCH = {"task_protection": "on", "task_protection_idle_seconds": 0.2}


@pytest.mark.slow
async def test_a_rolling_deploy_under_load_finishes_with_nothing_lost(
    endpoint: Emulator,
    sfn: Any,
    ecs: Ecs,
    endpoints: FakeTaskEndpoints,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = unique("Rolling")
    _, machine = await create_machine(sfn, name, heartbeat=20, retry=[RETRY_FLEET])
    gate = anyio.Event()
    old_key = endpoints.become(monkeypatch, ecs.start_task(ecs.primary()))
    async with running_worker(
        generation(1, name, gate), endpoint.endpoint_url, deployment_check_seconds=0.1, **WATCH
    ) as old:
        assert old.sup is not None
        first = await start(sfn, machine, [{"n": n} for n in range(12)])
        with anyio.fail_after(20):
            while old.sup.in_flight < 12 or not endpoints.protection.get(old_key):
                await anyio.sleep(0.02)

        # A new deployment: its task starts while the old one is busy and protected.
        endpoints.become(monkeypatch, ecs.start_task(ecs.new_deployment()))
        async with running_worker(
            generation(2, name), endpoint.endpoint_url, deployment_check_seconds=0.1, **WATCH
        ) as new:
            with anyio.fail_after(20):
                while old.sup.mode is not Mode.STOPPING:
                    await anyio.sleep(0.02)
            assert endpoints.protection[old_key][-1] is True  # still busy, still protected
            # A poll the old worker had open when it stopped is never cancelled (the service
            # may answer it anyway) and would run what it brings; once those polls have ended,
            # work that arrives goes to the new generation only.
            with anyio.fail_after(20):
                while old.sup.polls_in_flight:
                    await anyio.sleep(0.02)
            second = await start(sfn, machine, [{"n": n} for n in range(12, 24)])
            done = await wait_done(sfn, second, timeout=30)
            assert {json.loads(d["output"])["generation"] for d in done.values()} == {2}

            gate.set()  # the old generation's tasks finish
            with anyio.fail_after(30):
                while old.status is None:
                    await anyio.sleep(0.02)
            assert old.status == 0  # exited on its own, everything reported
            finished = await wait_done(sfn, first, timeout=30)
            assert new.sup is not None
            assert new.sup.mode is Mode.RUNNING

    outcomes = {**finished, **done}
    assert [d["status"] for d in outcomes.values()] == ["SUCCEEDED"] * 24
    assert sorted(json.loads(d["output"])["n"] for d in outcomes.values()) == list(range(24))
    assert {json.loads(d["output"])["generation"] for d in finished.values()} == {1}
    # The old worker let go of its protection on the way out.
    assert endpoints.protection[old_key][-1] is False
    assert old.value("fleet_tasks_completed_total", activity=name, outcome="succeeded") == 12
    assert old.value("fleet_api_requests_total", operation="DescribeServices", outcome="ok") >= 2
    assert any(
        "superseded" in r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING
    )


@pytest.mark.slow
async def test_a_standalone_task_is_not_watched(
    endpoint: Emulator,
    sfn: Any,
    ecs: Ecs,
    endpoints: FakeTaskEndpoints,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = unique("Standalone")
    _, machine = await create_machine(sfn, name)
    endpoints.become(monkeypatch, ecs.start_task(None))  # RunTask, as a batch schedule does
    endpoints.up = False  # the metadata endpoint is not answering at first: retried, not fatal
    async with running_worker(
        generation(1, name), endpoint.endpoint_url, deployment_check_seconds=0.05
    ) as worker:
        assert worker.sup is not None
        await anyio.sleep(0.3)
        endpoints.up = True
        with anyio.fail_after(10):
            while (
                worker.value("fleet_api_requests_total", operation="DescribeTasks", outcome="ok")
                < 1
            ):
                await anyio.sleep(0.02)
        ecs.new_deployment()
        arns = await start(sfn, machine, [{"n": 1}])
        assert [d["status"] for d in (await wait_done(sfn, arns)).values()] == ["SUCCEEDED"]
        assert worker.sup.mode is Mode.RUNNING
        assert (
            worker.value("fleet_api_requests_total", operation="DescribeServices", outcome="ok")
            == 0
        )


async def test_a_deleted_service_counts_as_superseded(
    endpoint: Emulator,
    sfn: Any,
    ecs: Ecs,
    endpoints: FakeTaskEndpoints,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = unique("Deleted")
    await create_machine(sfn, name)
    endpoints.become(monkeypatch, ecs.start_task(ecs.primary()))
    async with running_worker(
        generation(1, name), endpoint.endpoint_url, deployment_check_seconds=0.05
    ) as worker:
        assert worker.sup is not None
        ecs.client.delete_service(cluster=CLUSTER, service=SERVICE, force=True)
        with anyio.fail_after(20):
            while worker.status is None:
                await anyio.sleep(0.02)
        assert worker.status == 0


async def test_the_old_deployment_serves_until_the_new_one_runs(
    endpoint: Emulator,
    sfn: Any,
    ecs: Ecs,
    endpoints: FakeTaskEndpoints,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    ecs.create_service(desired=2)  # moto runs one: no deployment of it is ever complete
    name = unique("Starting")
    _, machine = await create_machine(sfn, name)
    endpoints.become(monkeypatch, ecs.start_task(ecs.primary()))
    async with running_worker(
        generation(1, name), endpoint.endpoint_url, deployment_check_seconds=0.05
    ) as worker:
        assert worker.sup is not None
        ecs.new_deployment()  # PRIMARY now, but its tasks are not all running
        seen = worker.value("fleet_api_requests_total", operation="DescribeServices", outcome="ok")
        with anyio.fail_after(20):
            while (
                worker.value("fleet_api_requests_total", operation="DescribeServices", outcome="ok")
                < seen + 5
            ):
                await anyio.sleep(0.02)
        assert worker.sup.mode is Mode.RUNNING  # still serving
        arns = await start(sfn, machine, [{"n": 1}])
        assert [d["status"] for d in (await wait_done(sfn, arns)).values()] == ["SUCCEEDED"]
        messages = [r.getMessage() for r in caplog.records]
        assert "a new deployment is starting; serving until its tasks run" in messages
        assert not any("superseded" in m for m in messages)
