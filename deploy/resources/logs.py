"""CloudWatch Logs groups: the containers' (awslogs) and the state machine's, with retention."""

from __future__ import annotations

from deploy.resources.base import Change, Resource, State, top_fields
from deploy.resources.tagging import sync_tags


class LogGroup(Resource):
    """A log group of the stack; the worker's EMF lines in its own become the SfnFleet metrics."""

    kind = "log group"

    @property
    def arn(self) -> str:
        """The log group ARN used for tagging."""
        return self.names.arn("logs", f"log-group:{self.name}")

    async def read(self) -> State | None:
        logs = await self.aws.client("logs")
        found = await logs.describe_log_groups(logGroupNamePrefix=self.name)
        group = next(
            (g for g in found.get("logGroups", []) if g["logGroupName"] == self.name), None
        )
        if group is None:
            return None
        tags = await logs.list_tags_for_resource(resourceArn=self.arn)
        return {"retentionInDays": group.get("retentionInDays"), "tags": tags.get("tags", {})}

    def desired(self) -> State | None:
        if self.ctx.destroying:
            return None
        return {"retentionInDays": self.ctx.stack.log_retention_days, "tags": self.tags}

    async def create(self, desired: State) -> None:
        logs = await self.aws.client("logs")
        await logs.create_log_group(logGroupName=self.name, tags=desired["tags"])
        await logs.put_retention_policy(
            logGroupName=self.name, retentionInDays=desired["retentionInDays"]
        )

    async def update(self, current: State, desired: State, changes: list[Change]) -> None:
        logs = await self.aws.client("logs")
        fields = top_fields(changes)
        if "retentionInDays" in fields:
            await logs.put_retention_policy(
                logGroupName=self.name, retentionInDays=desired["retentionInDays"]
            )
        if "tags" in fields:
            await sync_tags(
                current["tags"],
                desired["tags"],
                lambda t: logs.tag_resource(resourceArn=self.arn, tags=t),
                lambda keys: logs.untag_resource(resourceArn=self.arn, tagKeys=keys),
            )

    async def delete(self, current: State) -> None:
        logs = await self.aws.client("logs")
        await logs.delete_log_group(logGroupName=self.name)
