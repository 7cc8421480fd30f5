"""Application Auto Scaling for the service: saturation target tracking, waiting-work steps.

Out on saturation: target tracking keeps the Average of the worker's ``SlotUtilization``
(namespace SfnFleet, dimension ServiceName=<stack>) at the target utilisation, and scales in
when idle, down to the minimum (0 for batch-like use). Out on waiting work: a step policy
driven by one alarm per activity that fires when work is really waiting: the p90 of
``ActivityScheduleTime`` (how long started tasks waited for a poller) is above
``acceptable_wait_seconds``, or tasks are scheduled while none starts at all (no worker, e.g.
the service at 0, where there is no utilisation to track), in 2 of 3 one-minute periods.
Scheduled > started in one period is not a signal: at steady load a task scheduled at the end
of a minute starts in the next, so the difference is noise (see the waiting-work test).
"""

from __future__ import annotations

from typing import Any

from deploy.aws import absent_on
from deploy.names import METRICS_NAMESPACE
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

# The waiting-work alarm: M of N one-minute periods must show waiting work.
WAITING_PERIODS = 3
WAITING_DATAPOINTS = 2


def waiting_expression(wait_ms: int) -> str:
    """The metric math that is 1 in a minute where work waits for a worker, else 0.

    ``wait`` is the p90 of ActivityScheduleTime (ms), ``scheduled`` and ``started`` the Sums of
    ActivitiesScheduled and ActivitiesStarted.
    """
    return (
        f"IF(FILL(wait, 0) > {wait_ms} OR (FILL(scheduled, 0) > 0 AND FILL(started, 0) == 0), 1, 0)"
    )


DIMENSION = "ecs:service:DesiredCount"
SCALE_OUT_COOLDOWN = 60  # Copilot's worker-service defaults: out 60 s, in 120 s
SCALE_IN_COOLDOWN = 120
_POLICY_KEYS = frozenset(
    {
        "TargetValue",
        "CustomizedMetricSpecification",
        "ScaleOutCooldown",
        "ScaleInCooldown",
        "AdjustmentType",
        "StepAdjustments",
        "Cooldown",
        "MetricAggregationType",
    }
)


def _in_service_mode(ctx: Context) -> bool:
    return not ctx.destroying and ctx.stack.mode == "service"


class ScalableTarget(Resource):
    """The service's desired count as a scalable target between the sized min and max."""

    kind = "scalable target"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx, ctx.names.scalable_resource)

    async def read(self) -> State | None:
        aas = await self.aws.client("application-autoscaling")
        found = await aas.describe_scalable_targets(
            ServiceNamespace="ecs", ResourceIds=[self.name], ScalableDimension=DIMENSION
        )
        targets = found.get("ScalableTargets", [])
        if not targets:
            return None
        # Owned by name: the resource id is the stack's own cluster and service.
        return {"minCapacity": targets[0]["MinCapacity"], "maxCapacity": targets[0]["MaxCapacity"]}

    def desired(self) -> State | None:
        if not _in_service_mode(self.ctx):
            return None
        return {"minCapacity": self.ctx.sizing.tasks_min, "maxCapacity": self.ctx.sizing.tasks_max}

    async def _register(self, desired: State, tags: bool) -> None:
        aas = await self.aws.client("application-autoscaling")
        extra: dict[str, Any] = {"Tags": self.tags} if tags else {}
        await aas.register_scalable_target(
            ServiceNamespace="ecs",
            ResourceId=self.name,
            ScalableDimension=DIMENSION,
            MinCapacity=desired["minCapacity"],
            MaxCapacity=desired["maxCapacity"],
            **extra,
        )

    async def create(self, desired: State) -> None:
        await self._register(desired, tags=True)

    async def update(self, current: State, desired: State, changes: list[Change]) -> None:
        # Only the bounds change; Application Auto Scaling moves the count into them.
        await self._register(desired, tags=False)

    async def delete(self, current: State) -> None:
        aas = await self.aws.client("application-autoscaling")
        await aas.deregister_scalable_target(
            ServiceNamespace="ecs", ResourceId=self.name, ScalableDimension=DIMENSION
        )


class ScalingPolicy(Resource):
    """One scaling policy on the service: ``saturation`` or ``waiting-work``."""

    kind = "scaling policy"

    def __init__(self, ctx: Context, purpose: str) -> None:
        super().__init__(ctx, ctx.names.policy(purpose))
        self.purpose = purpose

    async def read(self) -> State | None:
        aas = await self.aws.client("application-autoscaling")
        found = await aas.describe_scaling_policies(
            ServiceNamespace="ecs",
            ResourceId=self.names.scalable_resource,
            ScalableDimension=DIMENSION,
            PolicyNames=[self.name],
        )
        # Filter by name here too: not every endpoint honours PolicyNames.
        policy = next(
            (p for p in found.get("ScalingPolicies", []) if p["PolicyName"] == self.name), None
        )
        if policy is None:
            return None
        config_key = (
            "TargetTrackingScalingPolicyConfiguration"
            if policy["PolicyType"] == "TargetTrackingScaling"
            else "StepScalingPolicyConfiguration"
        )
        configuration = policy.get(config_key, {})
        return {
            "arn": policy["PolicyARN"],
            "policyType": policy["PolicyType"],
            # The fields deploy sets; defaults the service adds are not compared.
            "configuration": {k: v for k, v in configuration.items() if k in _POLICY_KEYS},
        }

    def desired(self) -> State | None:
        if not _in_service_mode(self.ctx):
            return None
        sizing = self.ctx.sizing
        if self.purpose == "saturation":
            return {
                "policyType": "TargetTrackingScaling",
                "configuration": {
                    "TargetValue": round(self.ctx.stack.sizing.target_utilization * 100, 2),
                    "CustomizedMetricSpecification": {
                        "MetricName": "SlotUtilization",
                        "Namespace": METRICS_NAMESPACE,
                        "Dimensions": [{"Name": "ServiceName", "Value": self.names.service}],
                        # No Unit: a unit filter would drop datapoints published without one.
                        "Statistic": "Average",
                    },
                    "ScaleOutCooldown": SCALE_OUT_COOLDOWN,
                    "ScaleInCooldown": SCALE_IN_COOLDOWN,
                },
            }
        step = max(1, -(-sizing.tasks_desired // 2))
        return {
            "policyType": "StepScaling",
            "configuration": {
                "AdjustmentType": "ChangeInCapacity",
                "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": step}],
                "Cooldown": SCALE_OUT_COOLDOWN,
                "MetricAggregationType": "Maximum",
            },
        }

    def record(self, current: State | None) -> None:
        self.ctx.outputs[f"policy:{self.purpose}"] = (
            current["arn"] if current else KNOWN_AFTER_APPLY
        )

    async def _put(self, desired: State) -> None:
        aas = await self.aws.client("application-autoscaling")
        config_key = (
            "TargetTrackingScalingPolicyConfiguration"
            if desired["policyType"] == "TargetTrackingScaling"
            else "StepScalingPolicyConfiguration"
        )
        found = await aas.put_scaling_policy(
            PolicyName=self.name,
            ServiceNamespace="ecs",
            ResourceId=self.names.scalable_resource,
            ScalableDimension=DIMENSION,
            PolicyType=desired["policyType"],
            **{config_key: desired["configuration"]},
        )
        self.ctx.outputs[f"policy:{self.purpose}"] = found["PolicyARN"]

    async def create(self, desired: State) -> None:
        await self._put(desired)

    async def update(self, current: State, desired: State, changes: list[Change]) -> None:
        await self._put(desired)

    async def delete(self, current: State) -> None:
        aas = await self.aws.client("application-autoscaling")
        await absent_on(
            ("ObjectNotFoundException",),
            aas.delete_scaling_policy(
                PolicyName=self.name,
                ServiceNamespace="ecs",
                ResourceId=self.names.scalable_resource,
                ScalableDimension=DIMENSION,
            ),
        )


class WaitingWorkAlarm(Resource):
    """Fires the waiting-work step policy when one activity's tasks wait for a worker."""

    kind = "CloudWatch alarm"

    def __init__(self, ctx: Context, activity: str) -> None:
        super().__init__(ctx, ctx.names.alarm(activity))
        self.activity = activity

    @property
    def description(self) -> str:
        """What a firing alarm means."""
        return f"{self.activity} has activity tasks waiting for a worker"

    async def read(self) -> State | None:
        cloudwatch = await self.aws.client("cloudwatch")
        found = await cloudwatch.describe_alarms(AlarmNames=[self.name])
        alarms = found.get("MetricAlarms", [])
        if not alarms:
            return None
        alarm = alarms[0]
        tags = await cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])
        return {
            "arn": alarm["AlarmArn"],
            "metrics": alarm.get("Metrics", []),
            "threshold": alarm.get("Threshold"),
            "comparisonOperator": alarm.get("ComparisonOperator"),
            "evaluationPeriods": alarm.get("EvaluationPeriods"),
            "datapointsToAlarm": alarm.get("DatapointsToAlarm", alarm.get("EvaluationPeriods")),
            "treatMissingData": alarm.get("TreatMissingData"),
            "alarmActions": sorted(alarm.get("AlarmActions", [])),
            "tags": tag_dict(tags.get("Tags"), "Key", "Value"),
        }

    def desired(self) -> State | None:
        if not _in_service_mode(self.ctx) or self.activity not in {
            a.name for a in self.ctx.stack.activities
        }:
            return None
        arn = self.names.activity_arn(self.activity)
        wait_ms = self.ctx.stack.sizing.acceptable_wait_seconds * 1000

        def stat(metric_id: str, metric: str, statistic: str) -> dict[str, Any]:
            return {
                "Id": metric_id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/States",
                        "MetricName": metric,
                        "Dimensions": [{"Name": "ActivityArn", "Value": arn}],
                    },
                    "Period": 60,
                    "Stat": statistic,
                },
                "ReturnData": False,
            }

        return {
            "metrics": [
                stat("scheduled", "ActivitiesScheduled", "Sum"),
                stat("started", "ActivitiesStarted", "Sum"),
                stat("wait", "ActivityScheduleTime", "p90"),
                {
                    "Id": "waiting",
                    "Expression": waiting_expression(wait_ms),
                    "Label": "work waiting for a worker",
                    "ReturnData": True,
                },
            ],
            "threshold": 1.0,
            "comparisonOperator": "GreaterThanOrEqualToThreshold",
            "evaluationPeriods": WAITING_PERIODS,
            "datapointsToAlarm": WAITING_DATAPOINTS,
            "treatMissingData": "notBreaching",
            "alarmActions": [self.ctx.outputs.get("policy:waiting-work", KNOWN_AFTER_APPLY)],
            "tags": self.tags,
        }

    async def _put(self, desired: State, tags: bool) -> None:
        cloudwatch = await self.aws.client("cloudwatch")
        extra: dict[str, Any] = {"Tags": tag_list(desired["tags"], "Key", "Value")} if tags else {}
        await cloudwatch.put_metric_alarm(
            AlarmName=self.name,
            AlarmDescription=self.description,
            Metrics=desired["metrics"],
            Threshold=desired["threshold"],
            ComparisonOperator=desired["comparisonOperator"],
            EvaluationPeriods=desired["evaluationPeriods"],
            DatapointsToAlarm=desired["datapointsToAlarm"],
            TreatMissingData=desired["treatMissingData"],
            AlarmActions=desired["alarmActions"],
            **extra,
        )

    async def create(self, desired: State) -> None:
        await self._put(desired, tags=True)

    async def update(self, current: State, desired: State, changes: list[Change]) -> None:
        if top_fields(changes) - {"tags"}:
            await self._put(desired, tags=False)
        if "tags" in top_fields(changes):
            cloudwatch = await self.aws.client("cloudwatch")
            arn = current["arn"]
            await sync_tags(
                current["tags"],
                desired["tags"],
                lambda t: cloudwatch.tag_resource(
                    ResourceARN=arn, Tags=tag_list(t, "Key", "Value")
                ),
                lambda keys: cloudwatch.untag_resource(ResourceARN=arn, TagKeys=keys),
            )

    async def delete(self, current: State) -> None:
        cloudwatch = await self.aws.client("cloudwatch")
        await cloudwatch.delete_alarms(AlarmNames=[self.name])
