"""plan shows the right diff and changes nothing; destroy removes the stack's resources only."""

from __future__ import annotations

import json

from deploy_support import ACCOUNT, EXAMPLE, REGION, Cli, Clients, mutating

STACK = "hello-world"
MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK}"


def test_plan_on_an_empty_account_creates_everything(
    cli: Cli, aws: Clients, api_calls: list[str]
) -> None:
    result = cli("plan", "--detailed-exitcode")
    assert result.code == 2
    assert mutating(api_calls) == []
    assert "20 to create, 0 to update, 0 to delete, 0 unchanged" in result.out
    assert "heartbeat ceiling: 2 tasks in flight of 27,500 (0%)" in result.out
    # Nothing was created by planning.
    assert aws.ecr.describe_repositories()["repositories"] == []
    assert aws.stepfunctions.list_activities()["activities"] == []


def test_plan_shows_the_fields_that_differ_and_changes_nothing(
    cli: Cli, aws: Clients, api_calls: list[str]
) -> None:
    assert cli("apply").code == 0
    api_calls.clear()
    before = aws.stepfunctions.describe_state_machine(stateMachineArn=MACHINE_ARN)["definition"]

    heartbeat = ["--set", "activities.0.heartbeat_seconds=30", "--set", "log_retention_days=7"]
    steps = {(s["kind"], s["name"]): s for s in cli("plan", "--json", *heartbeat).json()["steps"]}
    machine = steps[("state machine", STACK)]
    assert machine["action"] == "update"
    assert machine["changes"] == [
        {
            "field": "definition.States.HelloWorldActivity.HeartbeatSeconds",
            "current": 60,
            "desired": 30,
        }
    ]
    taskdef = steps[("task definition", f"{STACK}-worker")]
    assert taskdef["changes"] == [
        {"field": "container.environment.FLEET_HEARTBEAT_SECONDS", "current": "60", "desired": "30"}
    ]
    assert steps[("log group", f"/sfn-fleet/{STACK}")]["changes"] == [
        {"field": "retentionInDays", "current": 30, "desired": 7}
    ]
    assert steps[("ECS service", STACK)]["changes"][0]["desired"] == "(known after apply)"
    assert steps[("ECS cluster", STACK)]["action"] == "unchanged"

    human = cli("plan", *heartbeat)
    assert "definition.States.HelloWorldActivity.HeartbeatSeconds: 60 → 30" in human.out
    assert "0 to create, 5 to update, 0 to delete" in human.out

    # The plans made no change.
    assert api_calls
    assert mutating(api_calls) == []
    assert (
        aws.stepfunctions.describe_state_machine(stateMachineArn=MACHINE_ARN)["definition"]
        == before
    )
    assert len(aws.ecs.list_task_definitions()["taskDefinitionArns"]) == 1
    group = aws.logs.describe_log_groups(logGroupNamePrefix=f"/sfn-fleet/{STACK}")["logGroups"][0]
    assert group["retentionInDays"] == 30


def _leftovers(aws: Clients) -> dict[str, list[str]]:
    clusters = aws.ecs.describe_clusters(clusters=[STACK])["clusters"]
    return {
        "repositories": [
            r["repositoryName"] for r in aws.ecr.describe_repositories()["repositories"]
        ],
        "roles": [r["RoleName"] for r in aws.iam.list_roles()["Roles"]],
        "log groups": [g["logGroupName"] for g in aws.logs.describe_log_groups()["logGroups"]],
        "clusters": [c["clusterName"] for c in clusters if c["status"] == "ACTIVE"],
        "task definitions": aws.ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"]
        + aws.ecs.list_task_definitions(status="INACTIVE")["taskDefinitionArns"],
        "scalable targets": [
            t["ResourceId"]
            for t in aws.application_autoscaling.describe_scalable_targets(ServiceNamespace="ecs")[
                "ScalableTargets"
            ]
        ],
        "scaling policies": [
            p["PolicyName"]
            for p in aws.application_autoscaling.describe_scaling_policies(ServiceNamespace="ecs")[
                "ScalingPolicies"
            ]
        ],
        "alarms": [a["AlarmName"] for a in aws.cloudwatch.describe_alarms()["MetricAlarms"]],
        "activities": [a["name"] for a in aws.stepfunctions.list_activities()["activities"]],
        "state machines": [
            m["name"] for m in aws.stepfunctions.list_state_machines()["stateMachines"]
        ],
        "schedule groups": [
            g["Name"]
            for g in aws.scheduler.list_schedule_groups()["ScheduleGroups"]
            if g["Name"] != "default"
        ],
        "schedules": [s["Name"] for s in aws.scheduler.list_schedules()["Schedules"]],
        "rules": [r["Name"] for r in aws.events.list_rules()["Rules"]],
        "dashboards": [
            d["DashboardName"] for d in aws.cloudwatch.list_dashboards()["DashboardEntries"]
        ],
    }


def test_destroy_removes_the_stack_and_nothing_else(cli: Cli, aws: Clients) -> None:
    # Someone else's resources in the same account, one of them named like the stack's.
    aws.stepfunctions.create_activity(name="SomeoneElsesActivity")
    aws.logs.create_log_group(logGroupName="/other/app")
    aws.iam.create_role(
        RoleName="other-role", AssumeRolePolicyDocument=json.dumps({"Statement": []})
    )
    aws.cloudwatch.put_metric_alarm(
        AlarmName=f"{STACK}-waiting-work-NotOurs",
        MetricName="CPUUtilization",
        Namespace="AWS/EC2",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    assert cli("apply").code == 0

    result = cli("destroy")
    assert result.code == 0, result.err
    assert "destroy complete: 20 deleted" in result.out
    assert _leftovers(aws) == {
        "repositories": [],
        "roles": ["other-role"],
        "log groups": ["/other/app"],
        "clusters": [],
        "task definitions": [],
        "scalable targets": [],
        "scaling policies": [],
        "alarms": [f"{STACK}-waiting-work-NotOurs"],
        "activities": ["SomeoneElsesActivity"],
        "state machines": [],
        "schedule groups": [],
        "schedules": [],
        "rules": [],
        "dashboards": [],
    }
    again = cli("destroy", "--json")
    assert [s["action"] for s in again.json()["steps"]] == ["absent"]  # the foreign alarm, noted
    assert "left alone" in again.json()["steps"][0]["note"]


def test_destroy_without_yes_refuses_when_not_interactive(cli: Cli, aws: Clients) -> None:
    assert cli("apply").code == 0
    from deploy.__main__ import main

    code = main(
        ["destroy", "--stack", str(EXAMPLE), "--endpoint-url", cli.url, *cli.network.overrides()]
    )
    assert code == 1
    assert aws.ecr.describe_repositories()["repositories"]
