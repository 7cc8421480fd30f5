"""Failures say which resource and why, leave what exists consistent, and apply continues."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from deploy_support import EXAMPLE, Cli, Clients

from deploy.aws import Aws
from deploy.errors import RolloutFailed
from deploy.resources.logs import LogGroup
from deploy.resources.states import StateMachine
from deploy.waiter import wait_stable

STACK = "hello-world"


def test_missing_subnet_stops_before_any_change(cli: Cli, aws: Clients) -> None:
    result = cli("apply", "--set", 'network.subnets=["subnet-0000000000000dead"]')
    assert result.code == 1
    assert "network.subnets[0]: subnet-0000000000000dead does not exist in us-east-1" in result.err
    assert aws.ecr.describe_repositories()["repositories"] == []
    assert aws.iam.list_roles()["Roles"] == []


def test_security_group_in_another_vpc(cli: Cli, aws: Clients) -> None:
    vpc = aws.ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    group = aws.ec2.create_security_group(GroupName="x", Description="x", VpcId=vpc)["GroupId"]
    result = cli("plan", "--set", f'network.security_groups=["{group}"]')
    assert result.code == 1
    assert "subnets and security groups must share one VPC" in result.err


def test_foreign_resource_with_the_stacks_name_is_a_conflict(cli: Cli, aws: Clients) -> None:
    aws.stepfunctions.create_activity(name="HelloWorldActivity")  # not tagged for the stack
    plan = cli("plan")
    assert plan.code == 1
    assert "conflict" in plan.out
    result = cli("apply")
    assert result.code == 1
    assert (
        "activity 'HelloWorldActivity': exists but is not tagged sfn-fleet:stack=hello-world"
        in (result.err.replace("\n", " "))
    )
    assert aws.ecr.describe_repositories()["repositories"] == []


def test_aws_error_names_the_resource_and_a_second_apply_continues(
    cli: Cli, aws: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def denied(self: StateMachine, desired: Any) -> None:
        raise ClientError(
            {
                "Error": {
                    "Code": "AccessDeniedException",
                    "Message": "not authorized to CreateStateMachine",
                }
            },
            "CreateStateMachine",
        )

    with monkeypatch.context() as patch:
        patch.setattr(StateMachine, "create", denied)
        result = cli("apply")
    assert result.code == 1
    assert (
        "create state machine 'hello-world' failed: AccessDeniedException: not authorized to "
        "CreateStateMachine" in result.err.replace("\n", " ")
    )
    # Everything before the state machine exists, nothing after it.
    assert aws.stepfunctions.list_activities()["activities"][0]["name"] == "HelloWorldActivity"
    assert len(aws.ecs.list_task_definitions()["taskDefinitionArns"]) == 1
    assert aws.ecs.list_services(cluster=STACK)["serviceArns"] == []

    again = cli("apply", "--json")
    assert again.code == 0, again.err
    created = [s["kind"] for s in again.json()["steps"] if s["action"] == "create"]
    assert created[:2] == ["state machine", "ECS service"]
    assert "task definition" not in created
    assert len(aws.ecs.list_task_definitions()["taskDefinitionArns"]) == 1  # no duplicate revision


def test_access_denied_on_a_read_names_the_resource(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def denied(self: LogGroup) -> Any:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "no logs:DescribeLogGroups"}},
            "DescribeLogGroups",
        )

    monkeypatch.setattr(LogGroup, "read", denied)
    result = cli("plan")
    assert result.code == 1
    assert (
        "read log group '/sfn-fleet/hello-world' failed: AccessDeniedException: no "
        "logs:DescribeLogGroups" in result.err.replace("\n", " ")
    )


def test_given_definition_failing_the_lint_stops_before_any_change(
    cli: Cli, aws: Clients, tmp_path: Path
) -> None:
    (tmp_path / "machine.json").write_text(
        json.dumps(
            {
                "StartAt": "Hello",
                "States": {
                    "Hello": {
                        "Type": "Task",
                        "Resource": "${Activity.HelloWorldActivity}",
                        "HeartbeatSeconds": 60,
                        "End": True,
                    }
                },
            }
        )
    )
    stack = tmp_path / "stack.toml"
    stack.write_text(EXAMPLE.read_text())
    result = cli("apply", "--set", 'state_machine.definition_file="machine.json"', stack=stack)
    assert result.code == 1
    assert "Hello: no Retry for Fleet.Draining" in result.err
    assert aws.iam.list_roles()["Roles"] == []


class _FakeEcs:
    def __init__(self, rollouts: list[str]) -> None:
        self.rollouts = rollouts

    async def describe_services(self, **kwargs: Any) -> dict[str, Any]:
        state = self.rollouts.pop(0) if len(self.rollouts) > 1 else self.rollouts[0]
        deployment = {
            "status": "PRIMARY",
            "rolloutState": state,
            "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start.",
        }
        return {
            "services": [
                {
                    "status": "ACTIVE",
                    "runningCount": 0,
                    "pendingCount": 1,
                    "desiredCount": 1,
                    "deployments": [deployment],
                    "events": [],
                }
            ]
        }


class _FakeAws(Aws):
    def __init__(self, ecs: _FakeEcs) -> None:
        self.ecs = ecs

    async def client(self, service: str) -> Any:
        return self.ecs


def test_waiter_fails_fast_when_the_circuit_breaker_trips() -> None:
    seen: list[str | None] = []
    fake = _FakeAws(_FakeEcs(["IN_PROGRESS", "FAILED"]))
    with pytest.raises(RolloutFailed) as info:
        asyncio.run(
            wait_stable(
                fake,
                STACK,
                STACK,
                timeout=30,
                interval=0,
                progress=lambda s: seen.append(s.rollout),
            )
        )
    assert seen == ["IN_PROGRESS", "FAILED"]
    assert "circuit breaker failed the rollout (ECS deployment circuit breaker: tasks failed" in (
        str(info.value)
    )
