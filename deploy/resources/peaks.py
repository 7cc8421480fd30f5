"""Scheduled scaling for known peaks: raise the service's bounds ahead of them, then lower.

Each ``[[peaks]]`` entry is one Application Auto Scaling scheduled action on the service's
scalable target; at its time the target's min/max become the entry's, and autoscaling moves
the count into them.
"""

from __future__ import annotations

from typing import Any

from deploy.resources.autoscaling import DIMENSION
from deploy.resources.base import Change, Context, Resource, State
from deploy.stack import PeakSpec


async def owned_peaks(ctx: Context) -> list[str]:
    """Names (without the stack prefix) of this stack's scheduled actions, stale ones too."""
    aas = await ctx.aws.client("application-autoscaling")
    found = await aas.describe_scheduled_actions(
        ServiceNamespace="ecs", ResourceId=ctx.names.scalable_resource
    )
    prefix = ctx.names.peak("")
    return [
        a["ScheduledActionName"][len(prefix) :]
        for a in found.get("ScheduledActions", [])
        if a["ScheduledActionName"].startswith(prefix)
    ]


class ScheduledAction(Resource):
    """One known peak: the scalable target's bounds from a schedule on."""

    kind = "scheduled action"

    def __init__(self, ctx: Context, peak: str) -> None:
        super().__init__(ctx, ctx.names.peak(peak))
        self.peak = peak

    def _spec(self) -> PeakSpec | None:
        return next((p for p in self.ctx.stack.peaks if p.name == self.peak), None)

    async def read(self) -> State | None:
        aas = await self.aws.client("application-autoscaling")
        found = await aas.describe_scheduled_actions(
            ServiceNamespace="ecs",
            ResourceId=self.names.scalable_resource,
            ScheduledActionNames=[self.name],
        )
        actions = [
            a for a in found.get("ScheduledActions", []) if a["ScheduledActionName"] == self.name
        ]
        if not actions:
            return None
        action = actions[0]
        bounds = action.get("ScalableTargetAction", {})
        return {
            "schedule": action.get("Schedule"),
            "timezone": action.get("Timezone", "UTC"),
            "minCapacity": bounds.get("MinCapacity"),
            "maxCapacity": bounds.get("MaxCapacity"),
        }

    def desired(self) -> State | None:
        spec = self._spec()
        if self.ctx.destroying or self.ctx.stack.mode != "service" or spec is None:
            return None
        return {
            "schedule": spec.expression,
            "timezone": spec.timezone,
            "minCapacity": spec.min_tasks,
            "maxCapacity": spec.max_tasks,
        }

    def request(self, desired: State) -> dict[str, Any]:
        """The PutScheduledAction parameters."""
        return {
            "ServiceNamespace": "ecs",
            "ScheduledActionName": self.name,
            "ResourceId": self.names.scalable_resource,
            "ScalableDimension": DIMENSION,
            "Schedule": desired["schedule"],
            "Timezone": desired["timezone"],
            "ScalableTargetAction": {
                "MinCapacity": desired["minCapacity"],
                "MaxCapacity": desired["maxCapacity"],
            },
        }

    async def create(self, desired: State) -> None:
        aas = await self.aws.client("application-autoscaling")
        await aas.put_scheduled_action(**self.request(desired))

    async def update(self, current: State, desired: State, changes: list[Change]) -> None:
        await self.create(desired)

    async def delete(self, current: State) -> None:
        aas = await self.aws.client("application-autoscaling")
        await aas.delete_scheduled_action(
            ServiceNamespace="ecs",
            ScheduledActionName=self.name,
            ResourceId=self.names.scalable_resource,
            ScalableDimension=DIMENSION,
        )
