"""The worker task definition: sized CPU/memory, stopTimeout, health check, FLEET_ settings."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from deploy.aws import error_code
from deploy.names import CONTAINER, METRICS_NAMESPACE, METRICS_PORT
from deploy.resources.base import (
    KNOWN_AFTER_APPLY,
    Change,
    Context,
    Resource,
    State,
    tag_dict,
    tag_list,
    top_fields,
)
from deploy.resources.tagging import sync_tags
from deploy.sizing import DRAIN_SECONDS

TMP_VOLUME = "tmp"
STOP_TIMEOUT = 120  # the Fargate maximum; FLEET_DRAIN_SECONDS stays below it
KEEP_REVISIONS = 5  # older ACTIVE revisions are deregistered after a new one is registered
HEALTH_CHECK = {
    # The image has python but no curl.
    "command": [
        "CMD",
        "python",
        "-c",
        "import urllib.request,sys; "
        f"urllib.request.urlopen('http://127.0.0.1:{METRICS_PORT}/healthz', timeout=3)",
    ],
    "interval": 30,
    "timeout": 5,
    "retries": 3,
    "startPeriod": 30,
}


def worker_environment(ctx: Context) -> dict[str, str]:
    """The FLEET_ settings for the container; the stack's worker.environment overrides them."""
    stack, sizing = ctx.stack, ctx.sizing
    batch = stack.mode == "batch"
    env = {
        "FLEET_APP": stack.worker.app,
        "FLEET_REGION": stack.region,
        "FLEET_CONCURRENCY": str(sizing.slots_per_task),
        "FLEET_MIN_POLLERS": str(sizing.min_pollers_per_task),
        "FLEET_MAX_POLLERS": str(sizing.max_pollers_per_task),
        "FLEET_HEARTBEAT_SECONDS": str(sizing.heartbeat_seconds),
        "FLEET_API_RATE": f"{sizing.api_rate_per_task:g}",
        "FLEET_DRAIN_SECONDS": str(DRAIN_SECONDS),
        "FLEET_METRICS_HOST": "0.0.0.0",
        "FLEET_METRICS_PORT": str(METRICS_PORT),
        "FLEET_LOG_LEVEL": stack.worker.log_level,
        "FLEET_LOG_FORMAT": "json",
        # Scale-in protection exists only for service tasks; batch tasks are standalone.
        "FLEET_TASK_PROTECTION": "off" if batch else stack.worker.task_protection,
        "FLEET_CLOUDWATCH_NAMESPACE": METRICS_NAMESPACE,
        "FLEET_SERVICE_NAME": ctx.names.service,
    }
    if stack.activity_prefix:
        env["FLEET_ACTIVITY_PREFIX"] = stack.activity_prefix
    if batch:
        env["FLEET_EXIT_WHEN_IDLE_SECONDS"] = str(stack.worker.exit_when_idle_seconds)
        if stack.worker.max_tasks is not None:
            env["FLEET_MAX_TASKS"] = str(stack.worker.max_tasks)
    env.update(stack.worker.environment)
    return dict(sorted(env.items()))


def _container(raw: dict[str, Any]) -> dict[str, Any]:
    """The container fields deploy manages, with environment as a name -> value dict."""
    return {
        "name": raw.get("name"),
        "image": raw.get("image"),
        "essential": raw.get("essential", True),
        "stopTimeout": raw.get("stopTimeout"),
        "environment": {e["name"]: e["value"] for e in raw.get("environment", [])},
        "secrets": {e["name"]: e["valueFrom"] for e in raw.get("secrets", [])},
        "healthCheck": raw.get("healthCheck"),
        "logConfiguration": {
            "logDriver": raw.get("logConfiguration", {}).get("logDriver"),
            "options": raw.get("logConfiguration", {}).get("options"),
        },
        "portMappings": [
            {"containerPort": p["containerPort"], "protocol": p.get("protocol", "tcp")}
            for p in raw.get("portMappings", [])
        ],
        "user": raw.get("user"),
        "readonlyRootFilesystem": raw.get("readonlyRootFilesystem", False),
        "mountPoints": [
            {
                "sourceVolume": m.get("sourceVolume"),
                "containerPath": m.get("containerPath"),
                "readOnly": m.get("readOnly", False),
            }
            for m in raw.get("mountPoints", [])
        ],
        "linuxParameters": {
            "initProcessEnabled": raw.get("linuxParameters", {}).get("initProcessEnabled", False)
        },
    }


class TaskDefinition(Resource):
    """The latest ACTIVE revision of the stack's family; a new one only when something differs."""

    kind = "task definition"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx, ctx.names.family)

    async def read(self) -> State | None:
        ecs = await self.aws.client("ecs")
        try:
            found = await ecs.describe_task_definition(taskDefinition=self.name, include=["TAGS"])
        except ClientError as exc:
            if error_code(exc) in ("ClientException", "InvalidParameterException"):
                return None  # "Unable to describe task definition": no ACTIVE revision
            raise
        td = found["taskDefinition"]
        if td.get("status") != "ACTIVE":
            return None
        containers = td.get("containerDefinitions", [])
        return {
            "arn": td["taskDefinitionArn"],
            "cpu": td.get("cpu"),
            "memory": td.get("memory"),
            "cpuArchitecture": td.get("runtimePlatform", {}).get("cpuArchitecture"),
            "executionRoleArn": td.get("executionRoleArn"),
            "taskRoleArn": td.get("taskRoleArn"),
            "networkMode": td.get("networkMode"),
            "requiresCompatibilities": sorted(td.get("requiresCompatibilities", [])),
            "volumes": [{"name": v["name"]} for v in td.get("volumes", [])],
            "container": _container(containers[0]) if len(containers) == 1 else None,
            "tags": tag_dict(found.get("tags")),
        }

    def desired(self) -> State | None:
        if self.ctx.destroying:
            return None
        names = self.names
        worker = self.ctx.stack.worker
        return {
            "cpu": str(self.ctx.sizing.cpu),
            "memory": str(self.ctx.sizing.memory),
            "cpuArchitecture": "ARM64" if self.ctx.stack.architecture == "arm64" else "X86_64",
            "executionRoleArn": names.role_arn("execution"),
            "taskRoleArn": names.role_arn("task"),
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            # A task-local scratch volume: /tmp stays writable under a read-only root.
            "volumes": [{"name": TMP_VOLUME}],
            "container": {
                "name": CONTAINER,
                "image": self.ctx.image,
                "essential": True,
                "stopTimeout": STOP_TIMEOUT,
                "environment": worker_environment(self.ctx),
                # Read by ECS at start from SSM / Secrets Manager with the execution role.
                "secrets": dict(sorted(self.ctx.stack.worker.secrets.items())),
                "healthCheck": HEALTH_CHECK,
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": names.log_group,
                        "awslogs-region": names.region,
                        "awslogs-stream-prefix": CONTAINER,
                        # Explicit: non-blocking drops lines when the buffer is full rather
                        # than blocking the worker's writes (and its heartbeats).
                        "mode": worker.log_mode,
                        **(
                            {"max-buffer-size": worker.log_buffer_size}
                            if worker.log_mode == "non-blocking"
                            else {}
                        ),
                    },
                },
                # /metrics and /healthz; keep the port closed to all but scrapers in the
                # security group (or bind FLEET_METRICS_HOST to 127.0.0.1).
                "portMappings": [{"containerPort": METRICS_PORT, "protocol": "tcp"}],
                "user": worker.user,
                "readonlyRootFilesystem": worker.read_only_root,
                "mountPoints": [
                    {"sourceVolume": TMP_VOLUME, "containerPath": "/tmp", "readOnly": False}
                ],
                # ECS Exec runs its agent under an init process.
                "linuxParameters": {"initProcessEnabled": worker.ecs_exec},
            },
            "tags": self.tags,
        }

    def record(self, current: State | None) -> None:
        self.ctx.outputs["task_definition_arn"] = current["arn"] if current else KNOWN_AFTER_APPLY

    def replaces(self, changes: list[Change]) -> bool:
        return bool(top_fields(changes) - {"tags"})

    async def _register(self, desired: State) -> None:
        ecs = await self.aws.client("ecs")
        container = dict(desired["container"])
        container["environment"] = [
            {"name": k, "value": v} for k, v in container["environment"].items()
        ]
        container["secrets"] = [
            {"name": k, "valueFrom": v} for k, v in container["secrets"].items()
        ]
        found = await ecs.register_task_definition(
            family=self.name,
            cpu=desired["cpu"],
            memory=desired["memory"],
            runtimePlatform={
                "cpuArchitecture": desired["cpuArchitecture"],
                "operatingSystemFamily": "LINUX",
            },
            executionRoleArn=desired["executionRoleArn"],
            taskRoleArn=desired["taskRoleArn"],
            networkMode=desired["networkMode"],
            requiresCompatibilities=desired["requiresCompatibilities"],
            containerDefinitions=[container],
            volumes=desired["volumes"],
            tags=tag_list(desired["tags"]),
        )
        self.ctx.outputs["task_definition_arn"] = found["taskDefinition"]["taskDefinitionArn"]
        await self._deregister_old(keep=KEEP_REVISIONS)

    async def create(self, desired: State) -> None:
        await self._register(desired)

    async def update(self, current: State, desired: State, changes: list[Change]) -> None:
        if top_fields(changes) - {"tags"}:
            await self._register(desired)
            return
        ecs = await self.aws.client("ecs")
        arn = current["arn"]
        await sync_tags(
            current["tags"],
            desired["tags"],
            lambda t: ecs.tag_resource(resourceArn=arn, tags=tag_list(t)),
            lambda keys: ecs.untag_resource(resourceArn=arn, tagKeys=keys),
        )
        self.ctx.outputs["task_definition_arn"] = arn

    async def _revisions(self, status: str) -> list[str]:
        ecs = await self.aws.client("ecs")
        arns: list[str] = []
        paginator = ecs.get_paginator("list_task_definitions")
        async for page in paginator.paginate(familyPrefix=self.name, status=status, sort="ASC"):
            # familyPrefix is a prefix: keep this family's revisions only.
            arns += [
                a
                for a in page["taskDefinitionArns"]
                if a.split("/")[-1].rsplit(":", 1)[0] == self.name
            ]
        return arns

    async def _deregister_old(self, keep: int) -> None:
        ecs = await self.aws.client("ecs")
        active = await self._revisions("ACTIVE")
        for arn in active[: max(0, len(active) - keep)]:
            await ecs.deregister_task_definition(taskDefinition=arn)

    async def delete(self, current: State) -> None:
        ecs = await self.aws.client("ecs")
        await self._deregister_old(keep=0)
        inactive = await self._revisions("INACTIVE")
        for start in range(0, len(inactive), 10):
            await ecs.delete_task_definitions(taskDefinitions=inactive[start : start + 10])
