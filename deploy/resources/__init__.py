"""Resource kinds and the dependency order apply walks (destroy walks it backwards)."""

from __future__ import annotations

from deploy.resources.alarms import OPERATIONAL, OperationalAlarm, Topic
from deploy.resources.autoscaling import ScalableTarget, ScalingPolicy, WaitingWorkAlarm
from deploy.resources.base import Context, Resource
from deploy.resources.cluster import Cluster
from deploy.resources.dashboard import Dashboard
from deploy.resources.ecr import Repository
from deploy.resources.logs import LogGroup
from deploy.resources.peaks import ScheduledAction, owned_peaks
from deploy.resources.queue import DeadLetterQueue
from deploy.resources.roles import Role
from deploy.resources.schedules import WORKERS_SUFFIX, Rule, Schedule, ScheduleGroup
from deploy.resources.service import Service
from deploy.resources.states import Activity, StateMachine
from deploy.resources.taskdef import TaskDefinition
from deploy.stack import STACK_TAG

__all__ = ["Context", "Resource", "resources"]


async def _owned_activities(ctx: Context) -> list[str]:
    """Activities tagged with this stack, including ones the stack file no longer lists."""
    sfn = await ctx.aws.client("stepfunctions")
    names: list[str] = []
    async for page in sfn.get_paginator("list_activities").paginate():
        for item in page.get("activities", []):
            tags = await sfn.list_tags_for_resource(resourceArn=item["activityArn"])
            if {t["key"]: t["value"] for t in tags.get("tags", [])}.get(
                STACK_TAG
            ) == ctx.stack.name:
                names.append(item["name"])
    return names


async def _owned_alarms(ctx: Context) -> list[str]:
    """Activity names of this stack's waiting-work alarms, including stale ones."""
    cloudwatch = await ctx.aws.client("cloudwatch")
    prefix = ctx.names.alarm("")
    found = await cloudwatch.describe_alarms(AlarmNamePrefix=prefix)
    return [a["AlarmName"][len(prefix) :] for a in found.get("MetricAlarms", [])]


async def _owned_schedules(ctx: Context) -> list[str]:
    scheduler = await ctx.aws.client("scheduler")
    try:
        found = await scheduler.list_schedules(GroupName=ctx.names.schedule_group)
    except scheduler.exceptions.ResourceNotFoundException:
        return []
    return [s["Name"] for s in found.get("Schedules", [])]


async def _owned_rules(ctx: Context) -> list[str]:
    """Schedule names of this stack's rules (by name prefix, confirmed by tag)."""
    events = await ctx.aws.client("events")
    prefix = ctx.names.rule("")
    found = await events.list_rules(NamePrefix=prefix)
    out = []
    for rule in found.get("Rules", []):
        tags = await events.list_tags_for_resource(ResourceARN=rule["Arn"])
        if {t["Key"]: t["Value"] for t in tags.get("Tags", [])}.get(STACK_TAG) == ctx.stack.name:
            out.append(rule["Name"][len(prefix) :])
    return out


def _merge(wanted: list[str], existing: list[str]) -> list[str]:
    return wanted + [name for name in existing if name not in wanted]


async def _none(ctx: Context) -> list[str]:
    return []


async def resources(ctx: Context, discover: bool = True) -> list[Resource]:
    """Every resource of the stack in dependency order, plus stale ones to delete.

    Activities come before the service: workers that start before their activities exist
    would fail their polls and trip the deployment circuit breaker. Without ``discover``, no
    AWS call is made and only what the stack file declares is listed (for the template).
    """
    owned_activities = _owned_activities if discover else _none
    owned_alarms = _owned_alarms if discover else _none
    owned_schedules = _owned_schedules if discover else _none
    owned_rules = _owned_rules if discover else _none
    peaks = owned_peaks if discover and ctx.stack.mode == "service" else _none
    stack = ctx.stack
    activity_names = [a.name for a in stack.activities]
    aws_activity_names = [ctx.names.activity(a.name) for a in stack.activities]
    schedule_names = [s.name for s in stack.schedules]
    wanted_schedules = schedule_names + (
        [n + WORKERS_SUFFIX for n in schedule_names] if stack.mode == "batch" else []
    )
    out: list[Resource] = [
        Repository(ctx, ctx.names.repository),
        LogGroup(ctx, ctx.names.log_group),
        LogGroup(ctx, ctx.names.states_log_group),
        Role(ctx, "execution"),
        Role(ctx, "task"),
        Role(ctx, "states"),
        Role(ctx, "schedule"),
        Cluster(ctx, ctx.names.cluster),
        TaskDefinition(ctx),
    ]
    out += [Activity(ctx, name) for name in _merge(aws_activity_names, await owned_activities(ctx))]
    out += [StateMachine(ctx), Topic(ctx, ctx.names.alarm_topic)]
    # Before the service: its deployments are guarded by the task-failures alarm.
    out += [OperationalAlarm(ctx, purpose) for purpose in OPERATIONAL]
    out += [
        Service(ctx),
        ScalableTarget(ctx),
        ScalingPolicy(ctx, "saturation"),
        ScalingPolicy(ctx, "waiting-work"),
    ]
    out += [
        ScheduledAction(ctx, name)
        for name in _merge([p.name for p in stack.peaks], await peaks(ctx))
    ]
    out += [WaitingWorkAlarm(ctx, name) for name in _merge(activity_names, await owned_alarms(ctx))]
    out.append(DeadLetterQueue(ctx, ctx.names.dead_letter_queue))
    out.append(ScheduleGroup(ctx, ctx.names.schedule_group))
    out += [Schedule(ctx, name) for name in _merge(wanted_schedules, await owned_schedules(ctx))]
    out += [Rule(ctx, name) for name in _merge(schedule_names, await owned_rules(ctx))]
    out.append(Dashboard(ctx))
    return out
