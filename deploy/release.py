"""Operating a deployed service: its status, a fresh deployment, a rollback to a revision."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deploy.aws import Aws
from deploy.errors import DeployError
from deploy.names import CONTAINER, Names

EVENTS_SHOWN = 5


@dataclass(frozen=True)
class Deployment:
    """One ECS deployment of the service (PRIMARY is the one being rolled out or done)."""

    id: str
    status: str
    task_definition: str
    rollout: str | None
    running: int
    desired: int
    pending: int
    failed: int
    created: str

    @property
    def revision(self) -> str:
        """``family:revision`` of its task definition."""
        return self.task_definition.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Status:
    """What ``status`` shows: counts, deployments, the image running, the latest events."""

    service: str
    task_definition: str
    image: str
    running: int
    desired: int
    pending: int
    deployments: list[Deployment]
    events: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return {
            "service": self.service,
            "taskDefinition": self.task_definition,
            "image": self.image,
            "running": self.running,
            "desired": self.desired,
            "pending": self.pending,
            "deployments": [d.__dict__ for d in self.deployments],
            "events": self.events,
        }


async def describe_service(aws: Aws, names: Names) -> dict[str, Any]:
    """The stack's ECS service as DescribeServices returns it.

    Raises DeployError when the stack has no active service (not applied, or batch mode).
    """
    ecs = await aws.client("ecs")
    try:
        found = await ecs.describe_services(cluster=names.cluster, services=[names.service])
    except ecs.exceptions.ClusterNotFoundException:
        found = {"services": []}
    service = next((s for s in found["services"] if s.get("status") == "ACTIVE"), None)
    if service is None:
        raise DeployError(
            f"stack '{names.base}' has no ECS service in cluster '{names.cluster}' "
            f"({names.region}): apply it first (service mode only)"
        )
    return dict(service)


async def status(aws: Aws, names: Names) -> Status:
    """The service's counts, deployments, running image and latest events."""
    service = await describe_service(aws, names)
    ecs = await aws.client("ecs")
    td = (await ecs.describe_task_definition(taskDefinition=service["taskDefinition"]))[
        "taskDefinition"
    ]
    image = next(
        (c["image"] for c in td.get("containerDefinitions", []) if c["name"] == CONTAINER), ""
    )
    deployments = [
        Deployment(
            id=d.get("id", ""),
            status=d.get("status", ""),
            task_definition=d.get("taskDefinition", ""),
            rollout=d.get("rolloutState"),
            running=int(d.get("runningCount", 0)),
            desired=int(d.get("desiredCount", 0)),
            pending=int(d.get("pendingCount", 0)),
            failed=int(d.get("failedTasks", 0)),
            created=str(d.get("createdAt", "")),
        )
        for d in service.get("deployments", [])
    ]
    return Status(
        service=names.service,
        task_definition=service["taskDefinition"],
        image=image,
        running=int(service.get("runningCount", 0)),
        desired=int(service.get("desiredCount", 0)),
        pending=int(service.get("pendingCount", 0)),
        deployments=deployments,
        events=[
            f"{e.get('createdAt', '')} {e.get('message', '')}"
            for e in service.get("events", [])[:EVENTS_SHOWN]
        ],
    )


async def redeploy(aws: Aws, names: Names) -> str:
    """Start a new deployment of the current task definition; returns its ARN.

    New tasks pull the image again and read their secrets again; superseded workers drain.
    """
    service = await describe_service(aws, names)
    ecs = await aws.client("ecs")
    await ecs.update_service(cluster=names.cluster, service=names.service, forceNewDeployment=True)
    return str(service["taskDefinition"])


async def revisions(aws: Aws, names: Names) -> list[str]:
    """The family's ACTIVE task definition ARNs, oldest first."""
    ecs = await aws.client("ecs")
    arns: list[str] = []
    paginator = ecs.get_paginator("list_task_definitions")
    async for page in paginator.paginate(familyPrefix=names.family, status="ACTIVE", sort="ASC"):
        arns += [a for a in page["taskDefinitionArns"] if _family(a) == names.family]
    return arns


def _family(arn: str) -> str:
    return arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]


def _revision(arn: str) -> int:
    return int(arn.rsplit(":", 1)[-1])


async def rollback(
    aws: Aws, names: Names, to: int | None = None, deregister: bool = True
) -> tuple[str, str]:
    """Point the service at an earlier revision (the one before the running one by default).

    The revision rolled back from is deregistered unless ``deregister`` is False, so that
    nothing starts it again; ``apply`` registers the stack file's image afresh. Returns the
    (from, to) task definition ARNs. Raises DeployError when there is no earlier revision.
    """
    service = await describe_service(aws, names)
    current = str(service["taskDefinition"])
    active = await revisions(aws, names)
    if to is None:
        earlier = [a for a in active if _revision(a) < _revision(current)]
        if not earlier:
            raise DeployError(
                f"no ACTIVE revision of {names.family} before {current.rsplit('/', 1)[-1]} "
                "to roll back to"
            )
        target = earlier[-1]
    else:
        target = next((a for a in active if _revision(a) == to), "")
        if not target:
            have = ", ".join(str(_revision(a)) for a in active) or "none"
            raise DeployError(
                f"revision {to} of {names.family} is not ACTIVE (ACTIVE revisions: {have})"
            )
        if target == current:
            raise DeployError(f"the service already runs {current.rsplit('/', 1)[-1]}")
    ecs = await aws.client("ecs")
    await ecs.update_service(cluster=names.cluster, service=names.service, taskDefinition=target)
    if deregister:
        await ecs.deregister_task_definition(taskDefinition=current)
    return current, target
