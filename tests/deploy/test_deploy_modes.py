"""Batch mode, the CloudWatch Events rule option, and switching between shapes."""

from __future__ import annotations

import json
from pathlib import Path

from deploy_support import ACCOUNT, EXAMPLE, REGION, Cli, Clients

STACK = "hello-world"
MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK}"
FAMILY_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{STACK}-worker"
CLUSTER_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{STACK}"
BATCH = [
    "--set",
    'mode="batch"',
    "--set",
    "sizing.tasks_per_run=1200",
    "--set",
    "sizing.deadline_seconds=3600",
    "--set",
    "sizing.duration_mean_seconds=20",
    "--set",
    "sizing.duration_p95_seconds=60",
    "--set",
    "sizing.spot_share=0",
]


def test_service_to_batch_with_an_events_rule(cli: Cli, aws: Clients) -> None:
    assert cli("apply").code == 0
    rule = ["--set", 'scheduler="events-rule"']

    planned = {
        (s["kind"], s["name"]): s["action"]
        for s in cli("plan", "--json", *BATCH, *rule).json()["steps"]
    }
    assert planned[("ECS service", STACK)] == "delete"
    assert planned[("scalable target", f"service/{STACK}/{STACK}")] == "delete"
    assert planned[("schedule", "hourly")] == "delete"
    assert planned[("events rule", f"{STACK}-hourly")] == "create"

    result = cli("apply", "--json", "--yes", *BATCH, *rule)
    assert result.code == 0, result.err
    assert (
        aws.ecs.describe_services(cluster=STACK, services=[STACK])["services"][0]["status"]
        != "ACTIVE"
    )
    assert (
        aws.application_autoscaling.describe_scalable_targets(ServiceNamespace="ecs")[
            "ScalableTargets"
        ]
        == []
    )
    assert aws.cloudwatch.describe_alarms(AlarmNamePrefix=STACK)["MetricAlarms"] == []
    assert [g["Name"] for g in aws.scheduler.list_schedule_groups()["ScheduleGroups"]] == [
        "default"
    ]

    targets = {
        t["Id"]: t for t in aws.events.list_targets_by_rule(Rule=f"{STACK}-hourly")["Targets"]
    }
    assert targets["state-machine"]["Arn"] == MACHINE_ARN
    workers = targets["workers"]
    assert workers["Arn"] == CLUSTER_ARN
    # Sized in test_deploy_sizing: one 0.5 vCPU / 1 GB task per run.
    assert workers["EcsParameters"]["TaskDefinitionArn"] == FAMILY_ARN
    assert workers["EcsParameters"]["TaskCount"] == 1
    assert workers["EcsParameters"]["NetworkConfiguration"]["awsvpcConfiguration"][
        "Subnets"
    ] == sorted(cli.network.subnets)
    rule_tags = aws.events.list_tags_for_resource(
        ResourceARN=aws.events.describe_rule(Name=f"{STACK}-hourly")["Arn"]
    )["Tags"]
    assert {"Key": "sfn-fleet:stack", "Value": STACK} in rule_tags

    role = aws.iam.get_role(RoleName=f"{STACK}-schedule")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "events.amazonaws.com"
    }
    policy = aws.iam.get_role_policy(RoleName=f"{STACK}-schedule", PolicyName="sfn-fleet")
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert statements["RunWorkers"]["Resource"] == [FAMILY_ARN, f"{FAMILY_ARN}:*"]
    assert statements["RunWorkers"]["Condition"] == {"ArnEquals": {"ecs:cluster": CLUSTER_ARN}}

    td = aws.ecs.describe_task_definition(taskDefinition=f"{STACK}-worker")["taskDefinition"]
    env = {e["name"]: e["value"] for e in td["containerDefinitions"][0]["environment"]}
    assert env["FLEET_EXIT_WHEN_IDLE_SECONDS"] == "60"
    assert env["FLEET_TASK_PROTECTION"] == "off"

    again = cli("apply", "--json", "--yes", *BATCH, *rule).json()["steps"]
    assert {s["action"] for s in again} <= {"unchanged", "absent"}

    # Back to service mode: the rule keeps starting executions but no longer runs workers.
    back = cli("apply", "--json", "--yes", *rule)
    assert back.code == 0, back.err
    rule_step = next(s for s in back.json()["steps"] if s["kind"] == "events rule")
    assert rule_step["action"] == "update"
    assert [c["field"] for c in rule_step["changes"]] == ["targets.workers"]
    targets = aws.events.list_targets_by_rule(Rule=f"{STACK}-hourly")["Targets"]
    assert [t["Id"] for t in targets] == ["state-machine"]
    assert aws.ecs.describe_services(cluster=STACK, services=[STACK])["services"][0]["status"] == (
        "ACTIVE"
    )


def test_batch_with_scheduler_runs_workers_from_a_second_schedule(cli: Cli, aws: Clients) -> None:
    result = cli("apply", "--json", "--yes", *BATCH)
    assert result.code == 0, result.err
    names = sorted(s["Name"] for s in aws.scheduler.list_schedules(GroupName=STACK)["Schedules"])
    assert names == ["hourly", "hourly-workers"]
    workers = aws.scheduler.get_schedule(Name="hourly-workers", GroupName=STACK)["Target"]
    assert workers["Arn"] == CLUSTER_ARN
    assert workers["EcsParameters"]["TaskDefinitionArn"] == FAMILY_ARN
    assert workers["EcsParameters"]["CapacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE", "weight": 1, "base": 0}
    ]

    # A schedule removed from the stack file is deleted, with its workers schedule.
    renamed = [
        "--set",
        'schedules.0.name="nightly"',
        "--set",
        'schedules.0.expression="cron(0 2 * * ? *)"',
    ]
    assert cli("apply", "--yes", *BATCH, *renamed).code == 0
    names = sorted(s["Name"] for s in aws.scheduler.list_schedules(GroupName=STACK)["Schedules"])
    assert names == ["nightly", "nightly-workers"]
    assert aws.scheduler.get_schedule(Name="nightly", GroupName=STACK)["ScheduleExpression"] == (
        "cron(0 2 * * ? *)"
    )


def test_an_activity_removed_from_the_stack_is_deleted_with_its_alarm(
    cli: Cli, aws: Clients, tmp_path: Path
) -> None:
    two = tmp_path / "two.toml"
    two.write_text(EXAMPLE.read_text() + '\n[[activities]]\nname = "Resize"\n')
    assert cli("apply", stack=two).code == 0
    machine = json.loads(
        aws.stepfunctions.describe_state_machine(stateMachineArn=MACHINE_ARN)["definition"]
    )
    assert list(machine["States"]) == ["HelloWorldActivity", "Resize"]
    alarms = [a["AlarmName"] for a in aws.cloudwatch.describe_alarms()["MetricAlarms"]]
    assert f"{STACK}-waiting-work-Resize" in alarms

    result = cli("apply", "--json", "--yes")  # the example again: one activity
    assert result.code == 0, result.err
    deleted = [(s["kind"], s["name"]) for s in result.json()["steps"] if s["action"] == "delete"]
    assert deleted == [("CloudWatch alarm", f"{STACK}-waiting-work-Resize"), ("activity", "Resize")]
    assert [a["name"] for a in aws.stepfunctions.list_activities()["activities"]] == [
        "HelloWorldActivity"
    ]
    task_policy = aws.iam.get_role_policy(RoleName=f"{STACK}-task", PolicyName="sfn-fleet")
    polled = task_policy["PolicyDocument"]["Statement"][0]["Resource"]
    assert polled == [f"arn:aws:states:{REGION}:{ACCOUNT}:activity:HelloWorldActivity"]
