"""Schedules: EventBridge Scheduler (default) or CloudWatch Events rules with targets.

Each stack schedule starts the state machine; in batch mode it also runs the worker task
(the task definition family ARN without a revision, so RunTask takes the latest ACTIVE one
and a new revision does not touch the schedules).
"""

from __future__ import annotations

import json
from typing import Any

from deploy.aws import absent_on, retry_role_propagation
from deploy.resources.base import Change, Context, Resource, State, tag_dict, tag_list, top_fields
from deploy.resources.service import capacity_strategy, network
from deploy.resources.tagging import sync_tags
from deploy.stack import ScheduleSpec

WORKERS_SUFFIX = "-workers"
# Scheduler and rule targets retry a failed start for up to an hour, a few times.
RETRY_POLICY = {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 3}


def _ecs_parameters(ctx: Context) -> dict[str, Any]:
    """Scheduler / EventBridge EcsParameters that run the sized number of worker tasks."""
    strategy = [
        {"capacityProvider": s["capacityProvider"], "weight": s["weight"], "base": s["base"]}
        for s in capacity_strategy(ctx.stack.sizing.spot_share)
    ]
    return {
        "TaskDefinitionArn": ctx.names.family_arn,
        "TaskCount": min(ctx.sizing.tasks_desired, 10),
        "CapacityProviderStrategy": strategy,
        "NetworkConfiguration": network(ctx.stack.network, key_case="upper"),
        "PlatformVersion": "LATEST",
        "PropagateTags": "TASK_DEFINITION",
        "EnableECSManagedTags": True,
    }


# The EcsParameters deploy sets; others an endpoint reports with defaults are not compared.
_ECS_KEYS = (
    "TaskDefinitionArn",
    "TaskCount",
    "CapacityProviderStrategy",
    "NetworkConfiguration",
    "PlatformVersion",
    "PropagateTags",
    "EnableECSManagedTags",
)


def _normal_ecs(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    if not raw:
        return None
    out = {key: raw[key] for key in _ECS_KEYS if key in raw}
    body = out.get("NetworkConfiguration", {}).get("awsvpcConfiguration")
    if body:
        out["NetworkConfiguration"] = {
            "awsvpcConfiguration": {
                "Subnets": sorted(body.get("Subnets", [])),
                "SecurityGroups": sorted(body.get("SecurityGroups", [])),
                "AssignPublicIp": body.get("AssignPublicIp", "DISABLED"),
            }
        }
    if "CapacityProviderStrategy" in out:
        out["CapacityProviderStrategy"] = sorted(
            (
                {
                    "capacityProvider": s["capacityProvider"],
                    "weight": s.get("weight", 0),
                    "base": s.get("base", 0),
                }
                for s in out["CapacityProviderStrategy"]
            ),
            key=lambda s: str(s["capacityProvider"]),
        )
    return out


def _input(raw: str | None) -> Any:
    return json.loads(raw) if raw else None


class ScheduleGroup(Resource):
    """The Scheduler group that holds (and tags) the stack's schedules."""

    kind = "schedule group"

    async def read(self) -> State | None:
        scheduler = await self.aws.client("scheduler")
        found = await absent_on(
            ("ResourceNotFoundException",), scheduler.get_schedule_group(Name=self.name)
        )
        if found is None:
            return None
        tags = await scheduler.list_tags_for_resource(ResourceArn=found["Arn"])
        return {"arn": found["Arn"], "tags": tag_dict(tags.get("Tags"), "Key", "Value")}

    def desired(self) -> State | None:
        stack = self.ctx.stack
        if self.ctx.destroying or stack.scheduler != "scheduler" or not stack.schedules:
            return None
        return {"tags": self.tags}

    async def create(self, desired: State) -> None:
        scheduler = await self.aws.client("scheduler")
        await scheduler.create_schedule_group(
            Name=self.name, Tags=tag_list(desired["tags"], "Key", "Value")
        )

    async def update(self, current: State, desired: State, changes: list[Change]) -> None:
        scheduler = await self.aws.client("scheduler")
        arn = current["arn"]
        await sync_tags(
            current["tags"],
            desired["tags"],
            lambda t: scheduler.tag_resource(ResourceArn=arn, Tags=tag_list(t, "Key", "Value")),
            lambda keys: scheduler.untag_resource(ResourceArn=arn, TagKeys=keys),
        )

    async def delete(self, current: State) -> None:
        scheduler = await self.aws.client("scheduler")
        await scheduler.delete_schedule_group(Name=self.name)


class Schedule(Resource):
    """One Scheduler schedule: ``<name>`` starts the state machine, ``<name>-workers`` the tasks."""

    kind = "schedule"

    def __init__(self, ctx: Context, name: str) -> None:
        super().__init__(ctx, name)

    def _spec(self) -> tuple[ScheduleSpec, bool] | None:
        for spec in self.ctx.stack.schedules:
            if self.name == spec.name:
                return spec, False
            if self.name == spec.name + WORKERS_SUFFIX and self.ctx.stack.mode == "batch":
                return spec, True
        return None

    async def read(self) -> State | None:
        scheduler = await self.aws.client("scheduler")
        found = await absent_on(
            ("ResourceNotFoundException",),
            scheduler.get_schedule(Name=self.name, GroupName=self.names.schedule_group),
        )
        if found is None:
            return None
        target = found.get("Target", {})
        return {
            "expression": found.get("ScheduleExpression"),
            "timezone": found.get("ScheduleExpressionTimezone", "UTC"),
            "state": found.get("State"),
            "flexibleTimeWindow": found.get("FlexibleTimeWindow"),
            "target": {
                "arn": target.get("Arn"),
                "roleArn": target.get("RoleArn"),
                "input": _input(target.get("Input")),
                "retryPolicy": target.get("RetryPolicy"),
                "deadLetterConfig": target.get("DeadLetterConfig"),
                "ecsParameters": _normal_ecs(target.get("EcsParameters")),
            },
        }

    def desired(self) -> State | None:
        found = self._spec()
        if self.ctx.destroying or self.ctx.stack.scheduler != "scheduler" or found is None:
            return None
        spec, workers = found
        names = self.names
        return {
            "expression": spec.expression,
            "timezone": spec.timezone,
            "state": "ENABLED" if spec.enabled else "DISABLED",
            "flexibleTimeWindow": {"Mode": "OFF"},
            "target": {
                "arn": names.cluster_arn if workers else names.state_machine_arn,
                "roleArn": names.role_arn("schedule"),
                "input": None if workers else spec.input,
                "retryPolicy": RETRY_POLICY,
                "deadLetterConfig": {"Arn": names.dead_letter_queue_arn},
                "ecsParameters": _ecs_parameters(self.ctx) if workers else None,
            },
        }

    def _request(self, desired: State) -> dict[str, Any]:
        target: dict[str, Any] = {
            "Arn": desired["target"]["arn"],
            "RoleArn": desired["target"]["roleArn"],
            "RetryPolicy": desired["target"]["retryPolicy"],
            "DeadLetterConfig": desired["target"]["deadLetterConfig"],
        }
        if desired["target"]["input"] is not None:
            target["Input"] = json.dumps(desired["target"]["input"])
        if desired["target"]["ecsParameters"] is not None:
            target["EcsParameters"] = desired["target"]["ecsParameters"]
        return {
            "Name": self.name,
            "GroupName": self.names.schedule_group,
            "ScheduleExpression": desired["expression"],
            "ScheduleExpressionTimezone": desired["timezone"],
            "State": desired["state"],
            "FlexibleTimeWindow": desired["flexibleTimeWindow"],
            "Target": target,
        }

    async def create(self, desired: State) -> None:
        scheduler = await self.aws.client("scheduler")
        await retry_role_propagation(lambda: scheduler.create_schedule(**self._request(desired)))

    async def update(self, current: State, desired: State, changes: list[Change]) -> None:
        scheduler = await self.aws.client("scheduler")
        # UpdateSchedule replaces the whole schedule.
        await retry_role_propagation(lambda: scheduler.update_schedule(**self._request(desired)))

    async def delete(self, current: State) -> None:
        scheduler = await self.aws.client("scheduler")
        await absent_on(
            ("ResourceNotFoundException",),
            scheduler.delete_schedule(Name=self.name, GroupName=self.names.schedule_group),
        )


class Rule(Resource):
    """A CloudWatch Events rule (the original recipe's shape) with its targets."""

    kind = "events rule"

    def __init__(self, ctx: Context, schedule: str) -> None:
        super().__init__(ctx, ctx.names.rule(schedule))
        self.schedule = schedule

    async def read(self) -> State | None:
        events = await self.aws.client("events")
        found = await absent_on(
            ("ResourceNotFoundException",), events.describe_rule(Name=self.name)
        )
        if found is None:
            return None
        tags = await events.list_tags_for_resource(ResourceARN=found["Arn"])
        targets = await events.list_targets_by_rule(Rule=self.name)
        return {
            "arn": found["Arn"],
            "expression": found.get("ScheduleExpression"),
            "state": found.get("State"),
            "targets": {
                t["Id"]: {
                    "arn": t.get("Arn"),
                    "roleArn": t.get("RoleArn"),
                    "input": _input(t.get("Input")),
                    "retryPolicy": t.get("RetryPolicy"),
                    "deadLetterConfig": t.get("DeadLetterConfig"),
                    "ecsParameters": _normal_ecs(t.get("EcsParameters")),
                }
                for t in targets.get("Targets", [])
            },
            "tags": tag_dict(tags.get("Tags"), "Key", "Value"),
        }

    def desired(self) -> State | None:
        spec = next((s for s in self.ctx.stack.schedules if s.name == self.schedule), None)
        if self.ctx.destroying or self.ctx.stack.scheduler != "events-rule" or spec is None:
            return None
        names = self.names
        targets: dict[str, Any] = {
            "state-machine": {
                "arn": names.state_machine_arn,
                "roleArn": names.role_arn("schedule"),
                "input": spec.input,
                "retryPolicy": RETRY_POLICY,
                "deadLetterConfig": {"Arn": names.dead_letter_queue_arn},
                "ecsParameters": None,
            }
        }
        if self.ctx.stack.mode == "batch":
            targets["workers"] = {
                "arn": names.cluster_arn,
                "roleArn": names.role_arn("schedule"),
                "input": None,
                "retryPolicy": RETRY_POLICY,
                "deadLetterConfig": {"Arn": names.dead_letter_queue_arn},
                "ecsParameters": _ecs_parameters(self.ctx),
            }
        return {
            "expression": spec.expression,
            "state": "ENABLED" if spec.enabled else "DISABLED",
            "targets": targets,
            "tags": self.tags,
        }

    async def _put_rule(self, desired: State, tags: bool) -> None:
        events = await self.aws.client("events")
        extra: dict[str, Any] = {"Tags": tag_list(desired["tags"], "Key", "Value")} if tags else {}
        # PutRule changes an existing rule's schedule and state; its tags only on creation.
        await events.put_rule(
            Name=self.name,
            ScheduleExpression=desired["expression"],
            State=desired["state"],
            Description=f"sfn-fleet {self.ctx.stack.name}: schedule {self.schedule}",
            **extra,
        )

    async def _put_targets(self, desired: State) -> None:
        events = await self.aws.client("events")
        targets = []
        for target_id, body in desired["targets"].items():
            target: dict[str, Any] = {
                "Id": target_id,
                "Arn": body["arn"],
                "RoleArn": body["roleArn"],
                "RetryPolicy": body["retryPolicy"],
                "DeadLetterConfig": body["deadLetterConfig"],
            }
            if body["input"] is not None:
                target["Input"] = json.dumps(body["input"])
            if body["ecsParameters"] is not None:
                target["EcsParameters"] = body["ecsParameters"]
            targets.append(target)
        await events.put_targets(Rule=self.name, Targets=targets)

    async def create(self, desired: State) -> None:
        await self._put_rule(desired, tags=True)
        await self._put_targets(desired)

    async def update(self, current: State, desired: State, changes: list[Change]) -> None:
        events = await self.aws.client("events")
        fields = top_fields(changes)
        if fields & {"expression", "state"}:
            await self._put_rule(desired, tags=False)
        if "targets" in fields:
            await self._put_targets(desired)
            extra = sorted(set(current["targets"]) - set(desired["targets"]))
            if extra:
                await events.remove_targets(Rule=self.name, Ids=extra)
        if "tags" in fields:
            arn = current["arn"]
            await sync_tags(
                current["tags"],
                desired["tags"],
                lambda t: events.tag_resource(ResourceARN=arn, Tags=tag_list(t, "Key", "Value")),
                lambda keys: events.untag_resource(ResourceARN=arn, TagKeys=keys),
            )

    async def delete(self, current: State) -> None:
        events = await self.aws.client("events")
        if current["targets"]:
            await events.remove_targets(Rule=self.name, Ids=sorted(current["targets"]))
        await events.delete_rule(Name=self.name)
