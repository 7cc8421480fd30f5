"""Two stacks (staging, prod) in one account and Region, kept apart by activity_prefix."""

from __future__ import annotations

import json

import pytest
from deploy_support import ACCOUNT, REGION, Cli, Clients


def stack(name: str, prefix: str | None) -> list[str]:
    out = ["--set", f'name="{name}"']
    if prefix is not None:
        out += ["--set", f'activity_prefix="{prefix}"']
    return out


def test_a_second_stack_on_the_same_activity_names_the_fix(cli: Cli, aws: Clients) -> None:
    assert cli("apply", *stack("staging", None)).code == 0
    result = cli("apply", *stack("prod", None))
    assert result.code == 1
    assert "activity 'HelloWorldActivity': belongs to stack 'staging'" in result.err
    assert 'activity_prefix = "prod-"' in result.err
    assert "FLEET_ACTIVITY_PREFIX" in result.err
    assert "Traceback" not in result.err
    # Nothing of prod was created.
    assert [c.rsplit("/", 1)[-1] for c in aws.ecs.list_clusters()["clusterArns"]] == ["staging"]


@pytest.mark.slow
def test_two_prefixed_stacks_coexist(cli: Cli, aws: Clients) -> None:
    for name in ("staging", "prod"):
        result = cli("apply", *stack(name, f"{name}-"))
        assert result.code == 0, result.err
    for name in ("staging", "prod"):
        arn = f"arn:aws:states:{REGION}:{ACCOUNT}:activity:{name}-HelloWorldActivity"
        machine = aws.stepfunctions.describe_state_machine(
            stateMachineArn=f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"
        )
        task = json.loads(machine["definition"])["States"]["HelloWorldActivity"]
        assert task["Resource"] == arn
        policy = aws.iam.get_role_policy(RoleName=f"{name}-task", PolicyName="sfn-fleet")
        polled = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}["PollActivities"]
        assert polled["Resource"] == [arn]
        td = aws.ecs.describe_task_definition(taskDefinition=f"{name}-worker")["taskDefinition"]
        env = {e["name"]: e["value"] for e in td["containerDefinitions"][0]["environment"]}
        assert env["FLEET_ACTIVITY_PREFIX"] == f"{name}-"
    # Neither stack wants to change the other's resources.
    for name in ("staging", "prod"):
        assert cli("plan", "--detailed-exitcode", *stack(name, f"{name}-")).code == 0
    assert cli("destroy", *stack("staging", "staging-")).code == 0
    assert [a["name"] for a in aws.stepfunctions.list_activities()["activities"]] == [
        "prod-HelloWorldActivity"
    ]
