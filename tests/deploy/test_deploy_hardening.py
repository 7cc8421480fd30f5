"""Hardened defaults read back from moto: container, trust policies, execution logs, ECS Exec."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiobotocore.client import AioBaseClient
from deploy_support import ACCOUNT, REGION, Cli, Clients

STACK = "hello-world"
MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK}"
STATES_LOG_GROUP = f"/aws/vendedlogs/states/{STACK}"

pytestmark = pytest.mark.slow  # each test applies the example stack to moto


def _trust(aws: Clients, purpose: str) -> dict[str, Any]:
    role = aws.iam.get_role(RoleName=f"{STACK}-{purpose}")["Role"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    return dict(statement)


def test_the_container_runs_read_only_as_the_image_user(cli: Cli, aws: Clients) -> None:
    assert cli("apply").code == 0
    td = aws.ecs.describe_task_definition(taskDefinition=f"{STACK}-worker")["taskDefinition"]
    (container,) = td["containerDefinitions"]
    assert container["readonlyRootFilesystem"] is True
    assert container["user"] == "10001:10001"
    # /tmp is the one writable path, a task-local volume.
    assert td["volumes"] == [{"name": "tmp"}]
    assert container["mountPoints"] == [
        {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}
    ]
    options = container["logConfiguration"]["options"]
    assert (options["mode"], options["max-buffer-size"]) == ("non-blocking", "25m")
    assert container["linuxParameters"]["initProcessEnabled"] is False


def test_every_trust_policy_names_the_account_and_the_source(cli: Cli, aws: Clients) -> None:
    assert cli("apply").code == 0
    sources = {
        "execution": ("ecs-tasks.amazonaws.com", f"arn:aws:ecs:{REGION}:{ACCOUNT}:*"),
        "task": ("ecs-tasks.amazonaws.com", f"arn:aws:ecs:{REGION}:{ACCOUNT}:*"),
        "states": ("states.amazonaws.com", MACHINE_ARN),
        "schedule": (
            "scheduler.amazonaws.com",
            f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/{STACK}",
        ),
    }
    for purpose, (service, source) in sources.items():
        statement = _trust(aws, purpose)
        assert statement["Principal"] == {"Service": service}, purpose
        assert statement["Condition"] == {
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
            "ArnLike": {"aws:SourceArn": source},
        }, purpose


def test_events_rules_trust_only_the_stacks_rules(cli: Cli, aws: Clients) -> None:
    assert cli("apply", "--set", 'scheduler="events-rule"').code == 0
    condition = _trust(aws, "schedule")["Condition"]
    assert condition["ArnLike"] == {
        "aws:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{STACK}-*"
    }


def test_the_state_machine_logs_to_its_own_group(cli: Cli, aws: Clients) -> None:
    assert cli("apply").code == 0
    machine = aws.stepfunctions.describe_state_machine(stateMachineArn=MACHINE_ARN)
    logging = machine["loggingConfiguration"]
    assert (logging["level"], logging["includeExecutionData"]) == ("ERROR", False)
    group = logging["destinations"][0]["cloudWatchLogsLogGroup"]["logGroupArn"]
    assert group == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{STATES_LOG_GROUP}:*"
    groups = aws.logs.describe_log_groups(logGroupNamePrefix=STATES_LOG_GROUP)["logGroups"]
    assert [g["retentionInDays"] for g in groups] == [30]
    policy = aws.iam.get_role_policy(RoleName=f"{STACK}-states", PolicyName="sfn-fleet")
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert "logs:CreateLogDelivery" in statement["Action"]

    # Changing the level is an update of the state machine, applied in place.
    change = [
        "--set",
        'state_machine.log_level="ALL"',
        "--set",
        "state_machine.log_execution_data=true",
    ]
    result = cli("apply", "--json", *change)
    assert result.code == 0, result.err
    updated = [
        (s["kind"], s["action"]) for s in result.json()["steps"] if s["action"] != "unchanged"
    ]
    assert ("state machine", "update") in updated
    logging = aws.stepfunctions.describe_state_machine(stateMachineArn=MACHINE_ARN)[
        "loggingConfiguration"
    ]
    assert (logging["level"], logging["includeExecutionData"]) == ("ALL", True)


@pytest.fixture
def service_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The parameters of every ECS CreateService / UpdateService call deploy makes."""
    calls: list[dict[str, Any]] = []
    original = AioBaseClient._make_api_call

    async def recording(self: Any, operation_name: str, api_params: Any) -> Any:
        if operation_name in ("CreateService", "UpdateService"):
            calls.append(dict(api_params))
        return await original(self, operation_name, api_params)

    monkeypatch.setattr(AioBaseClient, "_make_api_call", recording)
    return calls


def test_ecs_exec_is_off_by_default(cli: Cli, aws: Clients, service_calls: list[Any]) -> None:
    assert cli("apply").code == 0
    assert service_calls[0]["enableExecuteCommand"] is False
    task = aws.iam.get_role_policy(RoleName=f"{STACK}-task", PolicyName="sfn-fleet")
    assert "EcsExec" not in {s["Sid"] for s in task["PolicyDocument"]["Statement"]}


def test_ecs_exec_when_asked(cli: Cli, aws: Clients, service_calls: list[Any]) -> None:
    on = ["--set", "worker.ecs_exec=true", "--set", "worker.read_only_root=false"]
    result = cli("apply", *on)
    assert result.code == 0, result.err
    # moto does not report enableExecuteCommand back: the request shows what AWS gets.
    assert service_calls[0]["enableExecuteCommand"] is True
    td = aws.ecs.describe_task_definition(taskDefinition=f"{STACK}-worker")["taskDefinition"]
    (container,) = td["containerDefinitions"]
    assert container["linuxParameters"]["initProcessEnabled"] is True
    assert container["readonlyRootFilesystem"] is False
    task = aws.iam.get_role_policy(RoleName=f"{STACK}-task", PolicyName="sfn-fleet")
    statements = {s["Sid"]: s for s in task["PolicyDocument"]["Statement"]}
    assert "ssmmessages:OpenDataChannel" in statements["EcsExec"]["Action"]
    again = cli("apply", "--json", *on).json()["steps"]
    assert {s["action"] for s in again} <= {"unchanged", "absent"}


def test_ecs_exec_with_a_read_only_root_is_refused(cli: Cli) -> None:
    result = cli("plan", "--set", "worker.ecs_exec=true")
    assert result.code == 1
    assert "worker.ecs_exec: the ECS Exec agent writes to the root filesystem" in result.err
    assert "Traceback" not in result.err


DLQ_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{STACK}-schedule-dlq"


def _queue(aws: Clients) -> dict[str, Any]:
    url = aws.sqs.get_queue_url(QueueName=f"{STACK}-schedule-dlq")["QueueUrl"]
    return dict(aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"])


def test_schedules_retry_then_dead_letter(cli: Cli, aws: Clients) -> None:
    assert cli("apply").code == 0
    schedule = aws.scheduler.get_schedule(Name="hourly", GroupName=STACK)
    assert schedule["Target"]["DeadLetterConfig"] == {"Arn": DLQ_ARN}
    assert schedule["Target"]["RetryPolicy"] == {
        "MaximumEventAgeInSeconds": 3600,
        "MaximumRetryAttempts": 3,
    }
    queue = _queue(aws)
    assert queue["QueueArn"] == DLQ_ARN
    assert (queue["SqsManagedSseEnabled"], queue["MessageRetentionPeriod"]) == ("true", "1209600")
    (admit,) = json.loads(queue["Policy"])["Statement"]
    assert admit["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:role/{STACK}-schedule"}
    role = aws.iam.get_role_policy(RoleName=f"{STACK}-schedule", PolicyName="sfn-fleet")
    statements = {s["Sid"]: s for s in role["PolicyDocument"]["Statement"]}
    assert statements["DeadLetters"]["Resource"] == [DLQ_ARN]


def test_rules_dead_letter_through_the_queue_policy(cli: Cli, aws: Clients) -> None:
    assert cli("apply", "--set", 'scheduler="events-rule"').code == 0
    (target,) = aws.events.list_targets_by_rule(Rule=f"{STACK}-hourly")["Targets"]
    assert target["DeadLetterConfig"] == {"Arn": DLQ_ARN}
    (admit,) = json.loads(_queue(aws)["Policy"])["Statement"]
    # Rules deliver dead letters as the service, for the stack's rules only.
    assert admit["Principal"] == {"Service": "events.amazonaws.com"}
    assert admit["Condition"] == {
        "ArnLike": {"aws:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{STACK}-*"}
    }


def test_no_schedules_no_queue(cli: Cli, aws: Clients) -> None:
    assert cli("apply", "--set", "schedules=[]").code == 0
    assert aws.sqs.list_queues().get("QueueUrls", []) == []
