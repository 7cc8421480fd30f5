"""The ECS service (service mode): circuit breaker with rollback, Spot mix, autoscaled count."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from deploy.resources.base import Change, Context, Resource, State, tag_dict, tag_list, top_fields
from deploy.resources.cluster import strategy
from deploy.resources.tagging import sync_tags

# How long destroy waits for a deleted service to drain before deleting the cluster.
DRAIN_WAIT_SECONDS = 600.0


def capacity_strategy(spot_share: float) -> list[dict[str, Any]]:
    """FARGATE / FARGATE_SPOT weights for ``spot_share``; one on-demand task as base if mixed.

    >>> [(s["capacityProvider"], s["weight"], s["base"]) for s in capacity_strategy(0.75)]
    [('FARGATE', 1, 1), ('FARGATE_SPOT', 3, 0)]
    """
    if spot_share <= 0:
        return strategy([{"capacityProvider": "FARGATE", "weight": 1}])
    if spot_share >= 1:
        return strategy([{"capacityProvider": "FARGATE_SPOT", "weight": 1}])
    spot = round(spot_share * 100)
    on_demand = 100 - spot
    divisor = math.gcd(spot, on_demand)
    return strategy(
        [
            {"capacityProvider": "FARGATE", "weight": on_demand // divisor, "base": 1},
            {"capacityProvider": "FARGATE_SPOT", "weight": spot // divisor},
        ]
    )


def network(stack_network: Any, key_case: str = "lower") -> dict[str, Any]:
    """The awsvpc configuration; ``key_case`` "upper" gives the EventBridge/Scheduler spelling."""
    body = {
        "subnets": sorted(stack_network.subnets),
        "securityGroups": sorted(stack_network.security_groups),
        "assignPublicIp": "ENABLED" if stack_network.assign_public_ip else "DISABLED",
    }
    if key_case == "upper":
        body = {k[0].upper() + k[1:]: v for k, v in body.items()}
    return {"awsvpcConfiguration": body}


def _normal_network(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    if not raw:
        return None
    body = raw.get("awsvpcConfiguration", {})
    return {
        "awsvpcConfiguration": {
            "subnets": sorted(body.get("subnets", [])),
            "securityGroups": sorted(body.get("securityGroups", [])),
            "assignPublicIp": body.get("assignPublicIp", "DISABLED"),
        }
    }


def _deployment(raw: dict[str, Any]) -> dict[str, Any]:
    breaker = raw.get("deploymentCircuitBreaker", {})
    return {
        "deploymentCircuitBreaker": {
            "enable": breaker.get("enable", False),
            "rollback": breaker.get("rollback", False),
        },
        "minimumHealthyPercent": raw.get("minimumHealthyPercent"),
        "maximumPercent": raw.get("maximumPercent"),
        **_alarms(raw.get("alarms")),
    }


def _alarms(raw: dict[str, Any] | None) -> dict[str, Any]:
    """Deployment alarms, absent when off (AWS may report an empty, disabled block)."""
    if not raw or not (raw.get("enable") or raw.get("alarmNames")):
        return {}
    return {
        "alarms": {
            "alarmNames": sorted(raw.get("alarmNames", [])),
            "enable": raw.get("enable", False),
            "rollback": raw.get("rollback", False),
        }
    }


class Service(Resource):
    """The long-running worker service; its desired count belongs to autoscaling after create."""

    kind = "ECS service"
    # Some endpoints (moto) store these on update but do not return them after create.
    unreported = frozenset(
        {"capacityProviderStrategy", "deploymentConfiguration", "enableExecuteCommand"}
    )
    # Application Auto Scaling owns the desired count.
    ignored = frozenset({"desiredCount"})

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx, ctx.names.service)

    async def _describe(self) -> dict[str, Any] | None:
        ecs = await self.aws.client("ecs")
        try:
            found = await ecs.describe_services(
                cluster=self.names.cluster, services=[self.name], include=["TAGS"]
            )
        except ecs.exceptions.ClusterNotFoundException:
            return None
        return next((s for s in found["services"] if s["status"] != "INACTIVE"), None)

    async def read(self) -> State | None:
        service = await self._describe()
        if service is None or service["status"] != "ACTIVE":
            return None
        state: State = {
            "taskDefinition": service.get("taskDefinition"),
            "network": _normal_network(service.get("networkConfiguration")),
            "platformVersion": service.get("platformVersion"),
            "propagateTags": service.get("propagateTags"),
            "tags": tag_dict(service.get("tags")),
            "desiredCount": service.get("desiredCount"),
        }
        if "enableExecuteCommand" in service:
            state["enableExecuteCommand"] = service["enableExecuteCommand"]
        if "capacityProviderStrategy" in service:
            state["capacityProviderStrategy"] = strategy(service["capacityProviderStrategy"])
        if "deploymentConfiguration" in service:
            state["deploymentConfiguration"] = _deployment(service["deploymentConfiguration"])
        return state

    def desired(self) -> State | None:
        if self.ctx.destroying or self.ctx.stack.mode != "service":
            return None
        return {
            "taskDefinition": self.ctx.outputs.get("task_definition_arn"),
            "capacityProviderStrategy": capacity_strategy(self.ctx.stack.sizing.spot_share),
            "deploymentConfiguration": {
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
                "minimumHealthyPercent": 100,
                "maximumPercent": 200,
                **self._deployment_alarms(),
            },
            "network": network(self.ctx.stack.network),
            "platformVersion": "LATEST",
            "propagateTags": "SERVICE",
            "enableExecuteCommand": self.ctx.stack.worker.ecs_exec,
            "tags": self.tags,
        }

    def _deployment_alarms(self) -> dict[str, Any]:
        alarms = self.ctx.stack.alarms
        if not (alarms.enabled and alarms.guard_deployments):
            return {}
        name = self.names.operational_alarm("task-failures")
        return {"alarms": {"alarmNames": [name], "enable": True, "rollback": True}}

    async def create(self, desired: State) -> None:
        ecs = await self.aws.client("ecs")
        await ecs.create_service(
            cluster=self.names.cluster,
            serviceName=self.name,
            taskDefinition=desired["taskDefinition"],
            # The only time deploy sets the count: afterwards Application Auto Scaling owns it.
            desiredCount=self.ctx.sizing.tasks_desired,
            capacityProviderStrategy=desired["capacityProviderStrategy"],
            deploymentConfiguration=desired["deploymentConfiguration"],
            deploymentController={"type": "ECS"},
            networkConfiguration=desired["network"],
            platformVersion=desired["platformVersion"],
            propagateTags=desired["propagateTags"],
            enableExecuteCommand=desired["enableExecuteCommand"],
            enableECSManagedTags=True,
            schedulingStrategy="REPLICA",
            tags=tag_list(desired["tags"]),
        )

    async def after_create(self, desired: State) -> None:
        # Converge: an endpoint that ignored a create field gets it once more by update. On
        # AWS the read-back matches and nothing is sent.
        current = await self.read()
        if current is None:
            return
        missing = {
            key: desired[key]
            for key in ("capacityProviderStrategy", "deploymentConfiguration")
            if key not in current
        }
        if missing:
            ecs = await self.aws.client("ecs")
            await ecs.update_service(cluster=self.names.cluster, service=self.name, **missing)

    async def update(self, current: State, desired: State, changes: list[Change]) -> None:
        ecs = await self.aws.client("ecs")
        fields = top_fields(changes)
        args: dict[str, Any] = {}
        if "taskDefinition" in fields:
            args["taskDefinition"] = desired["taskDefinition"]
        if "capacityProviderStrategy" in fields:
            args["capacityProviderStrategy"] = desired["capacityProviderStrategy"]
            args["forceNewDeployment"] = True  # a new strategy applies to new tasks only
        if "deploymentConfiguration" in fields:
            args["deploymentConfiguration"] = desired["deploymentConfiguration"]
        if "network" in fields:
            args["networkConfiguration"] = desired["network"]
        if "platformVersion" in fields:
            args["platformVersion"] = desired["platformVersion"]
        if "propagateTags" in fields:
            args["propagateTags"] = desired["propagateTags"]
        if "enableExecuteCommand" in fields:
            args["enableExecuteCommand"] = desired["enableExecuteCommand"]
            args["forceNewDeployment"] = True  # running tasks keep the old setting
        if args:
            # Never desiredCount: autoscaling manages it.
            await ecs.update_service(cluster=self.names.cluster, service=self.name, **args)
        if "tags" in fields:
            arn = self.names.service_arn
            await sync_tags(
                current["tags"],
                desired["tags"],
                lambda t: ecs.tag_resource(resourceArn=arn, tags=tag_list(t)),
                lambda keys: ecs.untag_resource(resourceArn=arn, tagKeys=keys),
            )

    async def delete(self, current: State) -> None:
        ecs = await self.aws.client("ecs")
        # force: ECS scales the service to 0 and stops its tasks (they drain on SIGTERM).
        await ecs.delete_service(cluster=self.names.cluster, service=self.name, force=True)
        deadline = time.monotonic() + DRAIN_WAIT_SECONDS
        while time.monotonic() < deadline:
            service = await self._describe()
            if service is None:
                return
            await asyncio.sleep(self.ctx.poll_seconds)
