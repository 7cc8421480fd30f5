"""Leaving a superseded ECS deployment: stop polling once the service has moved on.

A worker keeps ECS scale-in protection on while it has tasks in flight, and ECS does not stop
a protected task for a deployment: under steady load the old code would run on and the
rollout would stall. So a service task asks ECS, every ``deployment_check_seconds``, whether
the deployment that started it (its ``startedBy``, read once with DescribeTasks from the task
ARN in the task metadata) is still the service's PRIMARY one (DescribeServices). Once another
deployment is PRIMARY and its tasks run (running at least desired), the worker stops as a
batch worker does: no new polls, running tasks finish, protection is released, and the
process exits 0. Until the new tasks run it keeps serving, so a rollout never leaves the
activities without pollers, and a new deployment that never becomes healthy leaves the old
workers in place.

Every failure here is logged and retried at the next check, never fatal: the worst case is
the behaviour without the check.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import anyio
from botocore.exceptions import BotoCoreError, ClientError

from fleet._logging import get_logger
from fleet._metrics import Metrics

_log = get_logger("deployment")

#: ``startedBy`` of a task that an ECS service deployment started (the deployment id).
SERVICE_DEPLOYMENT_PREFIX = "ecs-svc/"
#: ``group`` of a service's tasks.
SERVICE_GROUP_PREFIX = "service:"


@dataclass(frozen=True)
class TaskIdentity:
    """Where this task belongs: cluster, service, and the deployment that started it."""

    cluster: str
    service: str
    deployment: str
    task_arn: str


@dataclass(frozen=True)
class Primary:
    """The service's PRIMARY deployment as last read."""

    id: str
    running: int
    desired: int

    @property
    def ready(self) -> bool:
        """Whether its tasks run: all it wants, and at least one."""
        return self.running >= max(1, self.desired)


class DeploymentWatch:
    """Calls ``on_superseded`` once this task's deployment is no longer the PRIMARY one."""

    def __init__(
        self,
        metadata_uri: str,
        ecs: Any,
        *,
        check_seconds: float,
        on_superseded: Callable[[str], None],
        metrics: Metrics | None = None,
    ) -> None:
        self.task_url = metadata_uri.rstrip("/") + "/task"
        self.identity: TaskIdentity | None = None
        self._ecs = ecs
        self._check = check_seconds
        self._on_superseded = on_superseded
        self._metrics = metrics
        self._starting = ""

    async def run(self) -> None:
        """Check until superseded (then call back and return) or cancelled."""
        while True:
            try:
                if self.identity is None:
                    self.identity = await self._identify()
                    if self.identity is None:
                        return
                    _log.info(
                        "watching the service deployment",
                        extra={
                            "service": self.identity.service,
                            "deployment": self.identity.deployment,
                        },
                    )
                primary = await self._primary(self.identity)
            except (aiohttp.ClientError, ValueError, KeyError) as exc:
                _log.warning(
                    "could not read the task metadata; will retry", extra={"error": str(exc)}
                )
            except (ClientError, BotoCoreError, TimeoutError) as exc:
                _log.warning(
                    "could not check the service deployment; will retry", extra={"error": str(exc)}
                )
            else:
                newer = primary is not None and primary.id != self.identity.deployment
                if newer and primary is not None and not primary.ready:
                    # Keep serving until the new tasks run: leaving earlier would leave the
                    # activities without pollers while Fargate starts them, or for good if
                    # they never become healthy (the circuit breaker then rolls back).
                    self._note_starting(primary)
                elif primary is None or newer:
                    reason = (
                        f"deployment {self.identity.deployment} of service "
                        f"{self.identity.service} superseded by "
                        f"{primary.id if primary else 'no deployment (service deleted)'}"
                    )
                    _log.warning(
                        "superseded: finishing running tasks, then exiting",
                        extra={"reason": reason},
                    )
                    self._on_superseded(reason)
                    return
            await anyio.sleep(self._check)

    async def _identify(self) -> TaskIdentity | None:
        """The task's service and deployment; None if a service did not start it."""
        with anyio.fail_after(10):
            async with aiohttp.ClientSession() as session, session.get(self.task_url) as response:
                response.raise_for_status()
                metadata = await response.json(content_type=None)
        cluster, task_arn = str(metadata["Cluster"]), str(metadata["TaskARN"])
        found = await self._call("DescribeTasks", cluster=cluster, tasks=[task_arn])
        if not found.get("tasks"):
            # Not visible yet (ECS is eventually consistent): the next check asks again.
            raise KeyError(f"DescribeTasks does not know {task_arn} yet")
        task = found["tasks"][0]
        started_by, group = str(task.get("startedBy", "")), str(task.get("group", ""))
        if not (
            started_by.startswith(SERVICE_DEPLOYMENT_PREFIX)
            and group.startswith(SERVICE_GROUP_PREFIX)
        ):
            _log.info(
                "not started by a service deployment; the deployment check is off",
                extra={"started_by": started_by, "group": group},
            )
            return None
        return TaskIdentity(
            cluster=cluster,
            service=group.removeprefix(SERVICE_GROUP_PREFIX),
            deployment=started_by,
            task_arn=task_arn,
        )

    def _note_starting(self, primary: Primary) -> None:
        if primary.id != self._starting:
            self._starting = primary.id
            _log.info(
                "a new deployment is starting; serving until its tasks run",
                extra={
                    "deployment": primary.id,
                    "running": primary.running,
                    "desired": primary.desired,
                },
            )

    async def _primary(self, identity: TaskIdentity) -> Primary | None:
        """The service's PRIMARY deployment; None once the service is gone."""
        found = await self._call(
            "DescribeServices", cluster=identity.cluster, services=[identity.service]
        )
        for service in found.get("services", []):
            if service.get("status") != "ACTIVE":
                continue
            for deployment in service.get("deployments", []):
                if deployment.get("status") == "PRIMARY":
                    return Primary(
                        id=str(deployment.get("id", "")),
                        running=int(deployment.get("runningCount", 0)),
                        desired=int(deployment.get("desiredCount", 0)),
                    )
        return None

    async def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        method = {"DescribeTasks": "describe_tasks", "DescribeServices": "describe_services"}
        started = time.perf_counter()
        outcome = "ok"
        try:
            with anyio.fail_after(30):
                return dict(await getattr(self._ecs, method[operation])(**params))
        except ClientError:
            outcome = "client_error"
            raise
        except (BotoCoreError, TimeoutError):
            outcome = "network_error"
            raise
        finally:
            if self._metrics is not None:
                self._metrics.api_requests.labels(operation=operation, outcome=outcome).inc()
                self._metrics.api_duration.labels(operation=operation).observe(
                    time.perf_counter() - started
                )
