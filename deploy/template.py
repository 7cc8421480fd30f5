"""A CloudFormation template of the stack, from the resource model plan and apply use.

Every resource's properties come from its ``desired()`` state, the same one `apply` makes
true in AWS; this module only spells that state the way CloudFormation does. The account is
``${AWS::AccountId}`` (so one template serves any account), and the image and the network
are parameters whose defaults come from the stack file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from deploy.asl import load_definition
from deploy.aws import Aws
from deploy.names import Names
from deploy.resources import resources
from deploy.resources.alarms import OperationalAlarm, Topic
from deploy.resources.autoscaling import DIMENSION, ScalableTarget, ScalingPolicy, WaitingWorkAlarm
from deploy.resources.base import Context, Resource, State
from deploy.resources.cluster import Cluster
from deploy.resources.dashboard import Dashboard
from deploy.resources.ecr import Repository
from deploy.resources.logs import LogGroup
from deploy.resources.peaks import ScheduledAction
from deploy.resources.queue import DeadLetterQueue
from deploy.resources.roles import INLINE_POLICY, PURPOSES, Role
from deploy.resources.schedules import Rule, Schedule, ScheduleGroup
from deploy.resources.service import Service
from deploy.resources.states import Activity, StateMachine
from deploy.resources.taskdef import TaskDefinition
from deploy.sizing import size_stack
from deploy.stack import Stack

ACCOUNT = "${AWS::AccountId}"
# Values that stand for a parameter or another resource until the template is written.
_REF = re.compile(r"^\{\{ref:([A-Za-z0-9]+)\}\}$")
IMAGE_PARAMETER = "ImageUri"
SUBNETS_PARAMETER = "Subnets"
SECURITY_GROUPS_PARAMETER = "SecurityGroups"

Properties = dict[str, Any]
Template = dict[str, Any]


def ref(logical_id: str) -> str:
    """A placeholder for ``{"Ref": logical_id}``."""
    return "{{ref:" + logical_id + "}}"


def logical_id(resource: Resource) -> str:
    """A stable CloudFormation logical id from the resource's kind and name.

    >>> logical_id(type("R", (), {"kind": "log group", "name": "/sfn-fleet/a-b"})())
    'LogGroupSfnFleetAB'
    """
    words = re.split(r"[^A-Za-z0-9]+", f"{resource.kind} {resource.name}")
    return "".join(w[:1].upper() + w[1:] for w in words if w)[:255]


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _pascal(value: Any, keep: frozenset[str] = frozenset()) -> Any:
    """API-style camelCase keys as CloudFormation's PascalCase; values under ``keep`` as is."""
    if isinstance(value, dict):
        return {
            k[:1].upper() + k[1:]: (v if k in keep else _pascal(v, keep)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_pascal(v, keep) for v in value]
    return value


def _repository(res: Resource, d: State) -> Properties:
    return {
        "RepositoryName": res.name,
        "ImageScanningConfiguration": {"ScanOnPush": d["scanOnPush"]},
        "ImageTagMutability": d["imageTagMutability"],
        "LifecyclePolicy": {"LifecyclePolicyText": json.dumps(d["lifecyclePolicy"])},
        "Tags": _tags(d["tags"]),
    }


def _log_group(res: Resource, d: State) -> Properties:
    return {
        "LogGroupName": res.name,
        "RetentionInDays": d["retentionInDays"],
        "Tags": _tags(d["tags"]),
    }


def _role(res: Resource, d: State) -> Properties:
    assert isinstance(res, Role)
    out: Properties = {
        "RoleName": res.name,
        "Description": f"sfn-fleet {res.ctx.stack.name}: {PURPOSES[res.purpose][1]}",
        "AssumeRolePolicyDocument": d["trustPolicy"],
        "Tags": _tags(d["tags"]),
    }
    if d["policy"] is not None:
        out["Policies"] = [{"PolicyName": INLINE_POLICY, "PolicyDocument": d["policy"]}]
    if d["managedPolicies"]:
        out["ManagedPolicyArns"] = d["managedPolicies"]
    if d["permissionsBoundary"]:
        out["PermissionsBoundary"] = d["permissionsBoundary"]
    return out


def _cluster(res: Resource, d: State) -> Properties:
    return {
        "ClusterName": res.name,
        "CapacityProviders": d["capacityProviders"],
        "DefaultCapacityProviderStrategy": _pascal(d["defaultCapacityProviderStrategy"]),
        "ClusterSettings": [{"Name": "containerInsights", "Value": d["containerInsights"]}],
        "Tags": _tags(d["tags"]),
    }


def _task_definition(res: Resource, d: State) -> Properties:
    container = dict(d["container"])
    container["environment"] = [
        {"name": k, "value": v} for k, v in container["environment"].items()
    ]
    container["secrets"] = [{"name": k, "valueFrom": v} for k, v in container["secrets"].items()]
    if not container["secrets"]:
        del container["secrets"]
    return {
        "Family": res.name,
        "Cpu": d["cpu"],
        "Memory": d["memory"],
        "RuntimePlatform": {
            "CpuArchitecture": d["cpuArchitecture"],
            "OperatingSystemFamily": "LINUX",
        },
        "ExecutionRoleArn": d["executionRoleArn"],
        "TaskRoleArn": d["taskRoleArn"],
        "NetworkMode": d["networkMode"],
        "RequiresCompatibilities": d["requiresCompatibilities"],
        "Volumes": _pascal(d["volumes"]),
        "ContainerDefinitions": [_pascal(container, keep=frozenset({"options"}))],
        "Tags": _tags(d["tags"]),
    }


def _activity(res: Resource, d: State) -> Properties:
    return {"Name": res.name, "Tags": _tags(d["tags"])}


def _state_machine(res: Resource, d: State) -> Properties:
    return {
        "StateMachineName": res.name,
        "StateMachineType": d["type"],
        "DefinitionString": json.dumps(d["definition"], indent=2),
        "RoleArn": d["roleArn"],
        "LoggingConfiguration": _pascal(d["loggingConfiguration"]),
        "Tags": _tags(d["tags"]),
    }


def _service(res: Resource, d: State) -> Properties:
    return {
        "ServiceName": res.name,
        "Cluster": res.names.cluster,
        "TaskDefinition": d["taskDefinition"],
        # On creation only, as apply does; autoscaling owns the count afterwards.
        "DesiredCount": res.ctx.sizing.tasks_desired,
        "CapacityProviderStrategy": _pascal(d["capacityProviderStrategy"]),
        "DeploymentConfiguration": _pascal(d["deploymentConfiguration"]),
        "DeploymentController": {"Type": "ECS"},
        "NetworkConfiguration": _pascal(d["network"]),
        "PlatformVersion": d["platformVersion"],
        "PropagateTags": d["propagateTags"],
        "EnableExecuteCommand": d["enableExecuteCommand"],
        "EnableECSManagedTags": True,
        "SchedulingStrategy": "REPLICA",
        "Tags": _tags(d["tags"]),
    }


def _scalable_target(res: Resource, d: State) -> Properties:
    out: Properties = {
        "ServiceNamespace": "ecs",
        "ResourceId": res.name,
        "ScalableDimension": DIMENSION,
        "MinCapacity": d["minCapacity"],
        "MaxCapacity": d["maxCapacity"],
    }
    # CloudFormation holds scheduled actions inside their scalable target.
    actions = []
    for peak in res.ctx.stack.peaks:
        action = ScheduledAction(res.ctx, peak.name)
        wanted = action.desired()
        if wanted is not None:
            request = action.request(wanted)
            actions.append(
                {
                    "ScheduledActionName": request["ScheduledActionName"],
                    "Schedule": request["Schedule"],
                    "Timezone": request["Timezone"],
                    "ScalableTargetAction": request["ScalableTargetAction"],
                }
            )
    if actions:
        out["ScheduledActions"] = actions
    return out


def _scaling_policy(res: Resource, d: State) -> Properties:
    key = (
        "TargetTrackingScalingPolicyConfiguration"
        if d["policyType"] == "TargetTrackingScaling"
        else "StepScalingPolicyConfiguration"
    )
    return {
        "PolicyName": res.name,
        "PolicyType": d["policyType"],
        "ScalingTargetId": ref(logical_id(ScalableTarget(res.ctx))),
        key: d["configuration"],
    }


def _alarm(res: Resource, d: State) -> Properties:
    assert isinstance(res, WaitingWorkAlarm)
    return {
        "AlarmName": res.name,
        "AlarmDescription": res.description,
        "Metrics": d["metrics"],
        "Threshold": d["threshold"],
        "ComparisonOperator": d["comparisonOperator"],
        "EvaluationPeriods": d["evaluationPeriods"],
        "DatapointsToAlarm": d["datapointsToAlarm"],
        "TreatMissingData": d["treatMissingData"],
        "AlarmActions": d["alarmActions"],
        "Tags": _tags(d["tags"]),
    }


def _topic(res: Resource, d: State) -> Properties:
    return {"TopicName": res.name, "Tags": _tags(d["tags"])}


def _queue(res: Resource, d: State) -> Properties:
    return {
        "QueueName": res.name,
        "MessageRetentionPeriod": d["messageRetentionPeriod"],
        "SqsManagedSseEnabled": d["sqsManagedSse"],
        "Tags": _tags(d["tags"]),
    }


def _schedule_group(res: Resource, d: State) -> Properties:
    return {"Name": res.name, "Tags": _tags(d["tags"])}


def _target(body: dict[str, Any], events: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Arn": body["arn"],
        "RoleArn": body["roleArn"],
        "RetryPolicy": body["retryPolicy"],
        "DeadLetterConfig": body["deadLetterConfig"],
    }
    if body["input"] is not None:
        out["Input"] = json.dumps(body["input"])
    if body["ecsParameters"] is not None:
        ecs = _pascal(body["ecsParameters"])
        vpc = ecs["NetworkConfiguration"].pop("AwsvpcConfiguration")
        # EventBridge rules spell it AwsVpcConfiguration; Scheduler AwsvpcConfiguration.
        ecs["NetworkConfiguration"]["AwsVpcConfiguration" if events else "AwsvpcConfiguration"] = (
            vpc
        )
        out["EcsParameters"] = ecs
    return out


def _schedule(res: Resource, d: State) -> Properties:
    return {
        "Name": res.name,
        "GroupName": res.names.schedule_group,
        "ScheduleExpression": d["expression"],
        "ScheduleExpressionTimezone": d["timezone"],
        "State": d["state"],
        "FlexibleTimeWindow": d["flexibleTimeWindow"],
        "Target": _target(d["target"], events=False),
    }


def _rule(res: Resource, d: State) -> Properties:
    assert isinstance(res, Rule)
    return {
        "Name": res.name,
        "Description": f"sfn-fleet {res.ctx.stack.name}: schedule {res.schedule}",
        "ScheduleExpression": d["expression"],
        "State": d["state"],
        "Targets": [{"Id": k, **_target(v, events=True)} for k, v in d["targets"].items()],
        "Tags": _tags(d["tags"]),
    }


def _dashboard(res: Resource, d: State) -> Properties:
    return {"DashboardName": res.name, "DashboardBody": json.dumps(d["body"], indent=2)}


# kind -> (CloudFormation type, properties, kinds whose resources must exist first)
_KINDS: dict[
    type[Resource], tuple[str, Callable[[Resource, State], Properties], tuple[str, ...]]
] = {
    Repository: ("AWS::ECR::Repository", _repository, ()),
    LogGroup: ("AWS::Logs::LogGroup", _log_group, ()),
    Role: ("AWS::IAM::Role", _role, ()),
    Cluster: ("AWS::ECS::Cluster", _cluster, ()),
    TaskDefinition: ("AWS::ECS::TaskDefinition", _task_definition, ("IAM role", "log group")),
    Activity: ("AWS::StepFunctions::Activity", _activity, ()),
    StateMachine: (
        "AWS::StepFunctions::StateMachine",
        _state_machine,
        ("IAM role", "log group", "activity"),
    ),
    # Workers that start before their activities exist fail their polls.
    Topic: ("AWS::SNS::Topic", _topic, ()),
    OperationalAlarm: ("AWS::CloudWatch::Alarm", _alarm, ("SNS topic",)),
    # Its deployments are guarded by the task-failures alarm.
    Service: ("AWS::ECS::Service", _service, ("ECS cluster", "activity", "CloudWatch alarm")),
    ScalableTarget: (
        "AWS::ApplicationAutoScaling::ScalableTarget",
        _scalable_target,
        ("ECS service",),
    ),
    ScalingPolicy: ("AWS::ApplicationAutoScaling::ScalingPolicy", _scaling_policy, ()),
    WaitingWorkAlarm: ("AWS::CloudWatch::Alarm", _alarm, ()),
    DeadLetterQueue: ("AWS::SQS::Queue", _queue, ()),
    ScheduleGroup: ("AWS::Scheduler::ScheduleGroup", _schedule_group, ()),
    Schedule: (
        "AWS::Scheduler::Schedule",
        _schedule,
        (
            "schedule group",
            "IAM role",
            "state machine",
            "SQS queue",
            "ECS cluster",
            "task definition",
        ),
    ),
    Rule: (
        "AWS::Events::Rule",
        _rule,
        ("IAM role", "state machine", "SQS queue", "ECS cluster", "task definition"),
    ),
    Dashboard: ("AWS::CloudWatch::Dashboard", _dashboard, ()),
}


def _resolve(value: Any, params: dict[str, Any]) -> Any:
    """Placeholders as Ref, parameter values as Ref, account-bearing strings as Fn::Sub."""
    if isinstance(value, dict):
        return {k: _resolve(v, params) for k, v in value.items()}
    if isinstance(value, list):
        for name, default in params.items():
            if value and all(isinstance(v, str) for v in value) and sorted(value) == default:
                return {"Ref": name}
        return [_resolve(v, params) for v in value]
    if isinstance(value, str):
        found = _REF.match(value)
        if found:
            return {"Ref": found.group(1)}
        if ACCOUNT in value:
            return {"Fn::Sub": value}
    return value


_NAMED_ONLY = ("IAM role", "log group", "task definition")


def _mention(res: Resource) -> str:
    """How another resource's properties name ``res``: a role by ARN, others by name."""
    if isinstance(res, Role):
        return res.names.role_arn(res.purpose)
    return res.name


def _depends(res: Resource, earlier: list[tuple[Resource, str]], props: Any) -> list[str]:
    """Earlier resources of the kinds ``res`` needs, unless a Ref already orders them."""
    kinds = _KINDS[type(res)][2]
    text = json.dumps(props)
    out = []
    for other, other_id in earlier:
        if other.kind not in kinds or ref(other_id) in text:
            continue
        if other.kind in _NAMED_ONLY and _mention(other) not in text:
            continue  # of these kinds, only the ones the resource names
        out.append(other_id)
    return out


async def build(stack: Stack) -> Template:
    """The CloudFormation template (a dict) for ``stack``; makes no AWS call."""
    names = Names(stack, ACCOUNT)
    ctx = Context(
        stack=stack,
        sizing=size_stack(stack),
        names=names,
        aws=Aws(stack.region),
        definition=load_definition(stack, ACCOUNT),
    )
    ctx.image = ref(IMAGE_PARAMETER)
    listed = await resources(ctx, discover=False)
    for res in listed:
        if isinstance(res, TaskDefinition):
            ctx.outputs["task_definition_arn"] = ref(logical_id(res))
        if isinstance(res, ScalingPolicy):
            ctx.outputs[f"policy:{res.purpose}"] = ref(logical_id(res))
    params: dict[str, Any] = {
        SUBNETS_PARAMETER: sorted(stack.network.subnets),
        SECURITY_GROUPS_PARAMETER: sorted(stack.network.security_groups),
    }
    out: dict[str, Any] = {}
    earlier: list[tuple[Resource, str]] = []
    for res in listed:
        desired = res.desired()
        if desired is None or isinstance(res, ScheduledAction):
            continue  # scheduled actions are properties of the scalable target
        kind, properties, _ = _KINDS[type(res)]
        props = properties(res, desired)
        lid = logical_id(res)
        body: dict[str, Any] = {"Type": kind}
        depends = _depends(res, earlier, props)
        if depends:
            body["DependsOn"] = depends
        body["Properties"] = _resolve(props, params)
        out[lid] = body
        if isinstance(res, DeadLetterQueue):
            # The queue's access policy is a resource of its own in CloudFormation.
            policy_text = json.dumps(desired["policy"])
            policy: dict[str, Any] = {"Type": "AWS::SQS::QueuePolicy"}
            # Its principal, the schedule role, must exist first.
            roles = [i for r, i in earlier if isinstance(r, Role) and _mention(r) in policy_text]
            if roles:
                policy["DependsOn"] = roles
            policy["Properties"] = _resolve(
                {"Queues": [ref(lid)], "PolicyDocument": desired["policy"]}, params
            )
            out[lid + "Policy"] = policy
        earlier.append((res, lid))
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"sfn-fleet stack {stack.name}: workers for Step Functions activities",
        "Parameters": {
            IMAGE_PARAMETER: {
                "Type": "String",
                "Description": "the worker image, by digest (REPOSITORY@sha256:...)",
                **({"Default": stack.image.uri} if stack.image.uri else {}),
            },
            SUBNETS_PARAMETER: {
                "Type": "List<AWS::EC2::Subnet::Id>",
                "Description": "private subnets of the worker tasks",
                "Default": ",".join(params[SUBNETS_PARAMETER]),
            },
            SECURITY_GROUPS_PARAMETER: {
                "Type": "List<AWS::EC2::SecurityGroup::Id>",
                "Description": "security groups of the worker tasks (outbound HTTPS)",
                "Default": ",".join(params[SECURITY_GROUPS_PARAMETER]),
            },
        },
        "Resources": out,
    }


def dumps(template: Template, fmt: str) -> str:
    """The template as JSON or YAML text."""
    if fmt == "json":
        return json.dumps(template, indent=2) + "\n"
    import yaml

    return str(yaml.safe_dump(template, sort_keys=False, width=100))
