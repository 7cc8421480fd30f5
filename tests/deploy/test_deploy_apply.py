"""apply against moto: every resource read back with boto3, idempotence, targeted updates."""

from __future__ import annotations

import json
from typing import Any

from deploy_support import ACCOUNT, MOTO_RUNNING_TASKS, REGION, TAG, Cli, Clients, mutating

STACK = "hello-world"
ACTIVITY_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:activity:HelloWorldActivity"
MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK}"
OWNER = {"Key": "sfn-fleet:stack", "Value": STACK}


def _statements(aws: Clients, role: str) -> dict[str, dict[str, Any]]:
    policy = aws.iam.get_role_policy(RoleName=role, PolicyName="sfn-fleet")["PolicyDocument"]
    return {s["Sid"]: s for s in policy["Statement"]}


def test_apply_creates_every_resource(cli: Cli, aws: Clients) -> None:
    result = cli("apply")
    assert result.code == 0, result.err
    assert "apply complete: 20 created, 0 updated, 0 deleted, 0 unchanged" in result.out
    assert "service stable" in result.out
    # Nothing was pushed to the new repository: apply says what the tasks will lack.
    assert f"image 123456789012.dkr.ecr.us-east-1.amazonaws.com/hello-world:{TAG} is not in" in (
        result.err
    )

    repo = aws.ecr.describe_repositories(repositoryNames=[STACK])["repositories"][0]
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True
    assert repo["imageTagMutability"] == "IMMUTABLE"
    lifecycle = json.loads(
        aws.ecr.get_lifecycle_policy(repositoryName=STACK)["lifecyclePolicyText"]
    )
    assert [r["selection"]["tagStatus"] for r in lifecycle["rules"]] == ["untagged", "any"]

    group = aws.logs.describe_log_groups(logGroupNamePrefix=f"/sfn-fleet/{STACK}")["logGroups"][0]
    assert group["retentionInDays"] == 30

    task_role = aws.iam.get_role(RoleName=f"{STACK}-task")["Role"]
    assert task_role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "ecs-tasks.amazonaws.com"
    }
    assert OWNER in task_role["Tags"]
    task = _statements(aws, f"{STACK}-task")
    assert task["PollActivities"]["Resource"] == [ACTIVITY_ARN]
    assert task["ReportTasks"]["Resource"] == [ACTIVITY_ARN, MACHINE_ARN]
    assert task["TaskProtection"]["Resource"] == [f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{STACK}/*"]
    # The superseded-worker check reads its own task and the stack's service, nothing else.
    assert task["ReadOwnTask"]["Action"] == ["ecs:DescribeTasks"]
    assert task["ReadOwnTask"]["Resource"] == [f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{STACK}/*"]
    assert task["FollowDeployments"]["Action"] == ["ecs:DescribeServices"]
    assert task["FollowDeployments"]["Resource"] == [
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{STACK}/{STACK}"
    ]
    execution = _statements(aws, f"{STACK}-execution")
    assert execution["EcrPull"]["Resource"] == [
        f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{STACK}"
    ]
    assert execution["Logs"]["Resource"] == [
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/sfn-fleet/{STACK}:*"
    ]
    schedule = _statements(aws, f"{STACK}-schedule")
    assert schedule["StartExecution"]["Resource"] == [MACHINE_ARN]
    assert "RunWorkers" not in schedule  # service mode: schedules only start executions

    cluster = aws.ecs.describe_clusters(clusters=[STACK], include=["SETTINGS", "TAGS"])["clusters"][
        0
    ]
    assert cluster["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    assert {"name": "containerInsights", "value": "enabled"} in cluster["settings"]

    td = aws.ecs.describe_task_definition(taskDefinition=f"{STACK}-worker")["taskDefinition"]
    assert (td["cpu"], td["memory"], td["revision"]) == ("256", "512", 1)
    assert td["runtimePlatform"]["cpuArchitecture"] == "ARM64"
    assert td["requiresCompatibilities"] == ["FARGATE"]
    (container,) = td["containerDefinitions"]
    # Not pushed yet: the tag, until the image is there to pin by digest.
    assert container["image"] == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{STACK}:{TAG}"
    assert container["stopTimeout"] == 120
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert int(env["FLEET_DRAIN_SECONDS"]) < container["stopTimeout"]
    assert env["FLEET_APP"] == "fleet.examples.hello:app"
    assert (env["FLEET_CONCURRENCY"], env["FLEET_MIN_POLLERS"], env["FLEET_MAX_POLLERS"]) == (
        "16",
        "8",
        "16",
    )
    assert env["FLEET_API_RATE"] == "250"  # 500/s shared by at most 2 tasks
    assert env["FLEET_CLOUDWATCH_NAMESPACE"] == "SfnFleet"
    assert env["FLEET_SERVICE_NAME"] == STACK
    assert env["FLEET_METRICS_HOST"] == "0.0.0.0"
    assert env["FLEET_LOG_FORMAT"] == "json"
    assert "/healthz" in " ".join(container["healthCheck"]["command"])
    assert container["healthCheck"]["command"][:2] == ["CMD", "python"]
    assert container["logConfiguration"]["options"]["awslogs-group"] == f"/sfn-fleet/{STACK}"

    service = aws.ecs.describe_services(cluster=STACK, services=[STACK])["services"][0]
    assert service["taskDefinition"].endswith(f"{STACK}-worker:1")
    assert service["desiredCount"] == 1
    assert service["deploymentConfiguration"]["deploymentCircuitBreaker"] == {
        "enable": True,
        "rollback": True,
    }
    assert sorted(
        (s["capacityProvider"], s["weight"]) for s in service["capacityProviderStrategy"]
    ) == [
        ("FARGATE", 1),
        ("FARGATE_SPOT", 1),
    ]
    assert service["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == sorted(
        cli.network.subnets
    )

    target = aws.application_autoscaling.describe_scalable_targets(ServiceNamespace="ecs")[
        "ScalableTargets"
    ][0]
    assert (target["ResourceId"], target["MinCapacity"], target["MaxCapacity"]) == (
        f"service/{STACK}/{STACK}",
        1,
        2,
    )
    policies = {
        p["PolicyName"]: p
        for p in aws.application_autoscaling.describe_scaling_policies(ServiceNamespace="ecs")[
            "ScalingPolicies"
        ]
    }
    saturation = policies[f"{STACK}-saturation"]["TargetTrackingScalingPolicyConfiguration"]
    assert saturation["TargetValue"] == 70.0
    assert saturation["CustomizedMetricSpecification"] == {
        "MetricName": "SlotUtilization",
        "Namespace": "SfnFleet",
        "Dimensions": [{"Name": "ServiceName", "Value": STACK}],
        "Statistic": "Average",
    }
    step = policies[f"{STACK}-waiting-work"]
    assert step["PolicyType"] == "StepScaling"
    alarm = aws.cloudwatch.describe_alarms(AlarmNames=[f"{STACK}-waiting-work-HelloWorldActivity"])[
        "MetricAlarms"
    ][0]
    assert alarm["AlarmActions"] == [step["PolicyARN"]]
    metrics = {m["Id"]: m for m in alarm["Metrics"]}
    assert metrics["wait"]["MetricStat"]["Metric"]["MetricName"] == "ActivityScheduleTime"
    assert metrics["wait"]["MetricStat"]["Metric"]["Dimensions"] == [
        {"Name": "ActivityArn", "Value": ACTIVITY_ARN}
    ]
    assert "FILL(wait, 0) > 30000" in metrics["waiting"]["Expression"]

    assert (
        aws.stepfunctions.describe_activity(activityArn=ACTIVITY_ARN)["name"]
        == "HelloWorldActivity"
    )
    assert {"key": "sfn-fleet:stack", "value": STACK} in aws.stepfunctions.list_tags_for_resource(
        resourceArn=ACTIVITY_ARN
    )["tags"]
    machine = aws.stepfunctions.describe_state_machine(stateMachineArn=MACHINE_ARN)
    assert machine["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{STACK}-states"
    retry = json.loads(machine["definition"])["States"]["HelloWorldActivity"]["Retry"]
    assert retry[0]["ErrorEquals"] == ["Fleet.Draining", "Fleet.Interrupted"]

    schedule = aws.scheduler.get_schedule(Name="hourly", GroupName=STACK)
    assert schedule["ScheduleExpression"] == "rate(1 hour)"
    assert schedule["Target"]["Arn"] == MACHINE_ARN
    assert schedule["Target"]["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{STACK}-schedule"
    assert json.loads(schedule["Target"]["Input"]) == {"who": "schedule"}

    body = aws.cloudwatch.get_dashboard(DashboardName=STACK)["DashboardBody"]
    assert "${" not in body
    assert ACTIVITY_ARN in body
    assert '"SfnFleet", "SlotUtilization", "ServiceName", "hello-world"' in body


def test_second_apply_changes_nothing(cli: Cli, aws: Clients, api_calls: list[str]) -> None:
    assert cli("apply").code == 0
    assert "ecs:CreateService" in api_calls
    api_calls.clear()
    again = cli("apply", "--json")
    assert api_calls
    assert mutating(api_calls) == []
    assert again.code == 0, again.err
    steps = again.json()["steps"]
    assert {s["action"] for s in steps} == {"unchanged", "absent"}, [
        (s["kind"], s["name"], s["changes"])
        for s in steps
        if s["action"] not in ("unchanged", "absent")
    ]
    revisions = aws.ecs.list_task_definitions(familyPrefix=f"{STACK}-worker")["taskDefinitionArns"]
    assert len(revisions) == 1
    assert cli("plan", "--detailed-exitcode").code == 0


def test_sizing_change_updates_only_the_task_definition_and_service(cli: Cli, aws: Clients) -> None:
    assert cli("apply").code == 0
    # Autoscaling has moved the service to 3 tasks since.
    aws.ecs.update_service(cluster=STACK, service=STACK, desiredCount=3)

    # 20/s: C = ceil(20 * 3 / 0.7) = 86 slots -> 1 vCPU / 2 GB with
    # min(floor(0.95 / 0.01) = 95, floor(1792 / 16) = 112) = 95 slots, still 1 task (1 / 1 / 2).
    rate = ["--set", "sizing.arrival_rate_per_second=20"]
    planned = cli("plan", "--json", *rate).json()["steps"]
    # Absent: what the stack does not use (rules, opt-in alarms) stays absent.
    changed = {
        (s["kind"], s["action"]) for s in planned if s["action"] not in ("unchanged", "absent")
    }
    assert changed == {("task definition", "update"), ("ECS service", "update")}

    result = cli("apply", "--json", *rate)
    assert result.code == 0, result.err
    updated = [(s["kind"], s["name"]) for s in result.json()["steps"] if s["action"] == "update"]
    assert updated == [("task definition", f"{STACK}-worker"), ("ECS service", STACK)]

    td = aws.ecs.describe_task_definition(taskDefinition=f"{STACK}-worker")["taskDefinition"]
    assert (td["revision"], td["cpu"], td["memory"]) == (2, "1024", "2048")
    env = {e["name"]: e["value"] for e in td["containerDefinitions"][0]["environment"]}
    assert env["FLEET_CONCURRENCY"] == "95"
    service = aws.ecs.describe_services(cluster=STACK, services=[STACK])["services"][0]
    assert service["taskDefinition"] == td["taskDefinitionArn"]
    assert service["desiredCount"] == 3  # never reset by apply
    assert cli("apply", "--json", *rate).json()["steps"][0]["action"] == "unchanged"


def test_apply_waits_and_times_out_on_an_unstable_service(cli: Cli) -> None:
    # moto reports 50 running tasks; a service that wants 60 never completes its rollout.
    result = cli(
        "apply",
        "--set",
        f"sizing.min_tasks={MOTO_RUNNING_TASKS + 10}",
        "--wait-timeout",
        "0.3",
        "--poll-interval",
        "0.05",
    )
    assert result.code == 1
    assert "ECS service 'hello-world' was not stable after 0.3 s: 50/60 running" in result.err
    assert "Everything else is applied" in result.err
    assert cli("apply", "--no-wait", "--set", "sizing.min_tasks=60").code == 0
