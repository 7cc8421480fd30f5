"""Opt-in operational alarms with an SNS topic: failed executions, failed tasks, throttling.

The task-failures alarm also guards deployments: the service rolls a release back when it
fires during the rollout (ECS deployment alarms).
"""

from __future__ import annotations

from typing import Any

from deploy.aws import absent_on
from deploy.resources.autoscaling import WaitingWorkAlarm
from deploy.resources.base import Change, Context, Resource, State, top_fields
from deploy.resources.tagging import sync_tags

# name suffix -> what it means, for the description and the README
OPERATIONAL = {
    "executions-failed": "executions of the state machine failed, timed out or were aborted",
    "task-failures": "workers failed tasks or stopped heartbeating (handler errors, crashes)",
    "throttled": "Step Functions throttled the workers' or the schedules' calls",
}
# The APIs whose throttling the workers and schedules feel.
THROTTLED_APIS = ("GetActivityTask", "SendTaskSuccess", "SendTaskHeartbeat", "StartExecution")


def topic_arn(ctx: Context) -> str | None:
    """Where the operational alarms notify: the stack's topic or ``alarms.topic_arn``."""
    spec = ctx.stack.alarms
    if not spec.enabled:
        return None
    return spec.topic_arn or ctx.names.arn("sns", ctx.names.alarm_topic)


class Topic(Resource):
    """The SNS topic the operational alarms notify (unless the stack names its own)."""

    kind = "SNS topic"

    @property
    def arn(self) -> str:
        """The topic's ARN."""
        return self.names.arn("sns", self.name)

    async def read(self) -> State | None:
        sns = await self.aws.client("sns")
        found = await absent_on(("NotFound",), sns.get_topic_attributes(TopicArn=self.arn))
        if found is None:
            return None
        tags = await sns.list_tags_for_resource(ResourceArn=self.arn)
        return {"tags": {t["Key"]: t["Value"] for t in tags.get("Tags", [])}}

    def desired(self) -> State | None:
        spec = self.ctx.stack.alarms
        if self.ctx.destroying or not spec.enabled or spec.topic_arn:
            return None
        return {"tags": self.tags}

    async def create(self, desired: State) -> None:
        sns = await self.aws.client("sns")
        await sns.create_topic(
            Name=self.name, Tags=[{"Key": k, "Value": v} for k, v in desired["tags"].items()]
        )

    async def update(self, current: State, desired: State, changes: list[Change]) -> None:
        sns = await self.aws.client("sns")
        if "tags" in top_fields(changes):
            await sync_tags(
                current["tags"],
                desired["tags"],
                lambda t: sns.tag_resource(
                    ResourceArn=self.arn, Tags=[{"Key": k, "Value": v} for k, v in t.items()]
                ),
                lambda keys: sns.untag_resource(ResourceArn=self.arn, TagKeys=keys),
            )

    async def delete(self, current: State) -> None:
        sns = await self.aws.client("sns")
        await sns.delete_topic(TopicArn=self.arn)


class OperationalAlarm(WaitingWorkAlarm):
    """One operational alarm: a metric math sum over the stack's resources, above zero."""

    def __init__(self, ctx: Context, purpose: str) -> None:
        Resource.__init__(self, ctx, ctx.names.operational_alarm(purpose))
        self.purpose = purpose
        self.activity = purpose

    @property
    def description(self) -> str:
        """What a firing alarm means."""
        return f"sfn-fleet {self.ctx.stack.name}: {OPERATIONAL[self.purpose]}"

    def _metrics(self) -> list[dict[str, Any]]:
        names = self.names

        def stat(metric_id: str, metric: str, dimension: str, value: str) -> dict[str, Any]:
            return {
                "Id": metric_id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/States",
                        "MetricName": metric,
                        "Dimensions": [{"Name": dimension, "Value": value}],
                    },
                    "Period": 60,
                    "Stat": "Sum",
                },
                "ReturnData": False,
            }

        if self.purpose == "executions-failed":
            machine = names.state_machine_arn
            parts = [
                stat(f"m{i}", metric, "StateMachineArn", machine)
                for i, metric in enumerate(
                    ("ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted")
                )
            ]
        elif self.purpose == "task-failures":
            parts = [
                stat(f"m{i}{j}", metric, "ActivityArn", names.activity_arn(a.name))
                for i, a in enumerate(self.ctx.stack.activities)
                for j, metric in enumerate(("ActivitiesFailed", "ActivitiesHeartbeatTimedOut"))
            ]
        else:
            parts = [
                stat(f"m{i}", "ThrottledEvents", "APIName", api)
                for i, api in enumerate(THROTTLED_APIS)
            ]
        total = " + ".join(f"FILL({p['Id']}, 0)" for p in parts)
        return [
            *parts,
            {"Id": "total", "Expression": total, "Label": self.purpose, "ReturnData": True},
        ]

    def desired(self) -> State | None:
        topic = topic_arn(self.ctx)
        if self.ctx.destroying or topic is None:
            return None
        return {
            "metrics": self._metrics(),
            "threshold": float(self.ctx.stack.alarms.threshold),
            "comparisonOperator": "GreaterThanThreshold",
            "evaluationPeriods": 1,
            "datapointsToAlarm": 1,
            "treatMissingData": "notBreaching",
            "alarmActions": [topic],
            "tags": self.tags,
        }
