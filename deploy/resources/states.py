"""Step Functions: the stack's activities and its state machine."""

from __future__ import annotations

import json
from typing import Any

from deploy.asl import activity_arn
from deploy.aws import absent_on, retry_role_propagation
from deploy.resources.base import Change, Context, Resource, State, tag_dict, tag_list, top_fields
from deploy.resources.tagging import sync_tags
from deploy.stack import STACK_TAG


async def _tags(ctx: Context, arn: str) -> dict[str, str]:
    sfn = await ctx.aws.client("stepfunctions")
    found = await sfn.list_tags_for_resource(resourceArn=arn)
    return tag_dict(found.get("tags"))


async def _sync(ctx: Context, arn: str, current: State, desired: State) -> None:
    sfn = await ctx.aws.client("stepfunctions")
    await sync_tags(
        current["tags"],
        desired["tags"],
        lambda t: sfn.tag_resource(resourceArn=arn, tags=tag_list(t)),
        lambda keys: sfn.untag_resource(resourceArn=arn, tagKeys=keys),
    )


class Activity(Resource):
    """One activity (named as in AWS: prefixed); its clocks live in the state machine."""

    kind = "activity"

    @property
    def arn(self) -> str:
        """The activity ARN."""
        return activity_arn(self.names.region, self.names.account, self.name)

    def conflict_note(self, current: State) -> str | None:
        other = current["tags"].get(STACK_TAG)
        if not other:
            return None
        stack = self.ctx.stack.name
        return (
            f"belongs to stack '{other}': activity names are shared by every stack in the "
            f"account and Region, so give each stack its own with activity_prefix (e.g. "
            f'activity_prefix = "{stack}-" in this stack file; deploy passes it to the workers '
            "as FLEET_ACTIVITY_PREFIX)"
        )

    async def read(self) -> State | None:
        sfn = await self.aws.client("stepfunctions")
        found = await absent_on(
            ("ActivityDoesNotExist",), sfn.describe_activity(activityArn=self.arn)
        )
        if found is None:
            return None
        return {"tags": await _tags(self.ctx, self.arn)}

    def desired(self) -> State | None:
        wanted = {self.names.activity(a.name) for a in self.ctx.stack.activities}
        if self.ctx.destroying or self.name not in wanted:
            return None
        return {"tags": self.tags}

    async def create(self, desired: State) -> None:
        sfn = await self.aws.client("stepfunctions")
        await sfn.create_activity(name=self.name, tags=tag_list(desired["tags"]))

    async def update(self, current: State, desired: State, changes: list[Change]) -> None:
        await _sync(self.ctx, self.arn, current, desired)

    async def delete(self, current: State) -> None:
        sfn = await self.aws.client("stepfunctions")
        await sfn.delete_activity(activityArn=self.arn)


def logging_configuration(ctx: Context) -> dict[str, Any]:
    """Execution logging to the stack's states log group, at the stack's level."""
    spec = ctx.stack.state_machine
    group_arn = ctx.names.arn("logs", f"log-group:{ctx.names.states_log_group}")
    return {
        "level": spec.log_level,
        "includeExecutionData": spec.log_execution_data,
        # Step Functions takes the log group ARN with its ":*" stream suffix.
        "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": f"{group_arn}:*"}}],
    }


def _logging(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    return {
        "level": raw.get("level", "OFF"),
        "includeExecutionData": raw.get("includeExecutionData", False),
        "destinations": [
            {"cloudWatchLogsLogGroup": {"logGroupArn": d["cloudWatchLogsLogGroup"]["logGroupArn"]}}
            for d in raw.get("destinations", [])
            if "cloudWatchLogsLogGroup" in d
        ],
    }


class StateMachine(Resource):
    """The STANDARD state machine whose Task states name the activities."""

    kind = "state machine"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx, ctx.names.state_machine)

    @property
    def arn(self) -> str:
        """The state machine ARN."""
        return self.names.state_machine_arn

    async def read(self) -> State | None:
        sfn = await self.aws.client("stepfunctions")
        found = await absent_on(
            ("StateMachineDoesNotExist",), sfn.describe_state_machine(stateMachineArn=self.arn)
        )
        if found is None or found.get("status") == "DELETING":
            return None
        return {
            "definition": json.loads(found["definition"]),
            "roleArn": found["roleArn"],
            "type": found.get("type", "STANDARD"),
            "loggingConfiguration": _logging(found.get("loggingConfiguration")),
            "tags": await _tags(self.ctx, self.arn),
        }

    def desired(self) -> State | None:
        if self.ctx.destroying:
            return None
        return {
            "definition": self.ctx.definition,
            "roleArn": self.names.role_arn("states"),
            # Activities are supported by Standard workflows only.
            "type": "STANDARD",
            "loggingConfiguration": logging_configuration(self.ctx),
            "tags": self.tags,
        }

    async def create(self, desired: State) -> None:
        sfn = await self.aws.client("stepfunctions")
        await retry_role_propagation(
            lambda: sfn.create_state_machine(
                name=self.name,
                definition=json.dumps(desired["definition"]),
                roleArn=desired["roleArn"],
                type=desired["type"],
                loggingConfiguration=desired["loggingConfiguration"],
                tags=tag_list(desired["tags"]),
            )
        )

    async def update(self, current: State, desired: State, changes: list[Change]) -> None:
        fields = top_fields(changes)
        if fields & {"definition", "roleArn", "loggingConfiguration"}:
            sfn = await self.aws.client("stepfunctions")
            await retry_role_propagation(
                lambda: sfn.update_state_machine(
                    stateMachineArn=self.arn,
                    definition=json.dumps(desired["definition"]),
                    roleArn=desired["roleArn"],
                    loggingConfiguration=desired["loggingConfiguration"],
                )
            )
        if "tags" in fields:
            await _sync(self.ctx, self.arn, current, desired)

    async def delete(self, current: State) -> None:
        sfn = await self.aws.client("stepfunctions")
        await sfn.delete_state_machine(stateMachineArn=self.arn)
