"""The ECS cluster with the FARGATE and FARGATE_SPOT capacity providers."""

from __future__ import annotations

from typing import Any

from deploy.resources.base import Change, Resource, State, tag_dict, tag_list, top_fields
from deploy.resources.tagging import sync_tags

PROVIDERS = ["FARGATE", "FARGATE_SPOT"]


def strategy(items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """A capacity provider strategy in one comparable shape (sorted, base defaulting to 0)."""
    return sorted(
        (
            {
                "capacityProvider": item["capacityProvider"],
                "weight": int(item.get("weight", 0)),
                "base": int(item.get("base", 0)),
            }
            for item in items or []
        ),
        key=lambda item: str(item["capacityProvider"]),
    )


class Cluster(Resource):
    """The stack's ECS cluster; Container Insights feeds the dashboard's RunningTaskCount."""

    kind = "ECS cluster"

    async def read(self) -> State | None:
        ecs = await self.aws.client("ecs")
        found = await ecs.describe_clusters(clusters=[self.name], include=["TAGS", "SETTINGS"])
        cluster = next((c for c in found["clusters"] if c["status"] == "ACTIVE"), None)
        if cluster is None:
            return None
        settings = {s["name"]: s["value"] for s in cluster.get("settings", [])}
        return {
            "capacityProviders": sorted(cluster.get("capacityProviders", [])),
            "defaultCapacityProviderStrategy": strategy(
                cluster.get("defaultCapacityProviderStrategy")
            ),
            "containerInsights": settings.get("containerInsights", "disabled"),
            "tags": tag_dict(cluster.get("tags")),
        }

    def desired(self) -> State | None:
        if self.ctx.destroying:
            return None
        return {
            "capacityProviders": PROVIDERS,
            "defaultCapacityProviderStrategy": strategy(
                [{"capacityProvider": "FARGATE", "weight": 1}]
            ),
            "containerInsights": "enabled",
            "tags": self.tags,
        }

    async def create(self, desired: State) -> None:
        ecs = await self.aws.client("ecs")
        await ecs.create_cluster(
            clusterName=self.name,
            capacityProviders=desired["capacityProviders"],
            defaultCapacityProviderStrategy=desired["defaultCapacityProviderStrategy"],
            settings=[{"name": "containerInsights", "value": desired["containerInsights"]}],
            tags=tag_list(desired["tags"]),
        )

    async def update(self, current: State, desired: State, changes: list[Change]) -> None:
        ecs = await self.aws.client("ecs")
        fields = top_fields(changes)
        if fields & {"capacityProviders", "defaultCapacityProviderStrategy"}:
            await ecs.put_cluster_capacity_providers(
                cluster=self.name,
                capacityProviders=desired["capacityProviders"],
                defaultCapacityProviderStrategy=desired["defaultCapacityProviderStrategy"],
            )
        if "containerInsights" in fields:
            await ecs.update_cluster(
                cluster=self.name,
                settings=[{"name": "containerInsights", "value": desired["containerInsights"]}],
            )
        if "tags" in fields:
            arn = self.names.cluster_arn
            await sync_tags(
                current["tags"],
                desired["tags"],
                lambda t: ecs.tag_resource(resourceArn=arn, tags=tag_list(t)),
                lambda keys: ecs.untag_resource(resourceArn=arn, tagKeys=keys),
            )

    async def delete(self, current: State) -> None:
        ecs = await self.aws.client("ecs")
        # Batch-mode tasks started by the schedules run outside any service; stop them so
        # that the cluster can go.
        tasks = (await ecs.list_tasks(cluster=self.name)).get("taskArns", [])
        for arn in tasks:
            await ecs.stop_task(cluster=self.name, task=arn, reason="sfn-fleet destroy")
        await ecs.delete_cluster(cluster=self.name)
