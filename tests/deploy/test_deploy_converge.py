"""Every managed attribute converges both ways: a field removed from the stack file is removed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from deploy_support import ACCOUNT, EXAMPLE, REGION, Cli, Clients

STACK = "hello-world"
MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK}"
ACTIVITY_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:activity:HelloWorldActivity"

# The example sets a state machine timeout, a tag, a schedule input and pass_context; this
# adds a worker environment variable.
BASE = EXAMPLE.read_text().replace(
    "[worker]\n", '[worker]\nenvironment = { FEATURE_FLAG = "on" }\n'
)
REMOVED = (
    BASE.replace('environment = { FEATURE_FLAG = "on" }\n', "")
    .replace("timeout_seconds = 86400", "")
    .replace('input = { who = "schedule" }', "")
    .replace("pass_context = true", "pass_context = false")
    .replace('project = "sfn-fleet-example"', "")
)


def _tags(aws: Clients) -> dict[str, dict[str, str]]:
    """The tags of one resource of each kind, as AWS reports them."""
    role = aws.iam.get_role(RoleName=f"{STACK}-task")["Role"]
    cluster = aws.ecs.describe_clusters(clusters=[STACK], include=["TAGS"])["clusters"][0]
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/sfn-fleet/{STACK}"
    td = aws.ecs.describe_task_definition(taskDefinition=f"{STACK}-worker", include=["TAGS"])
    repo = aws.ecr.describe_repositories(repositoryNames=[STACK])["repositories"][0]
    return {
        "role": {t["Key"]: t["Value"] for t in role.get("Tags", [])},
        "cluster": {t["key"]: t["value"] for t in cluster.get("tags", [])},
        "log group": aws.logs.list_tags_for_resource(resourceArn=group_arn)["tags"],
        "task definition": {t["key"]: t["value"] for t in td.get("tags", [])},
        "repository": {
            t["Key"]: t["Value"]
            for t in aws.ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]
        },
        "activity": {
            t["key"]: t["value"]
            for t in aws.stepfunctions.list_tags_for_resource(resourceArn=ACTIVITY_ARN)["tags"]
        },
        "state machine": {
            t["key"]: t["value"]
            for t in aws.stepfunctions.list_tags_for_resource(resourceArn=MACHINE_ARN)["tags"]
        },
    }


def _deployed(aws: Clients) -> dict[str, object]:
    machine = json.loads(
        aws.stepfunctions.describe_state_machine(stateMachineArn=MACHINE_ARN)["definition"]
    )
    td = aws.ecs.describe_task_definition(taskDefinition=f"{STACK}-worker")["taskDefinition"]
    env = {e["name"]: e["value"] for e in td["containerDefinitions"][0]["environment"]}
    schedule = aws.scheduler.get_schedule(Name="hourly", GroupName=STACK)
    return {
        "timeout": machine.get("TimeoutSeconds"),
        "parameters": machine["States"]["HelloWorldActivity"].get("Parameters"),
        "FEATURE_FLAG": env.get("FEATURE_FLAG"),
        "input": json.loads(schedule["Target"].get("Input", "{}")),
    }


@pytest.mark.slow
def test_removed_fields_are_removed(cli: Cli, aws: Clients, tmp_path: Path) -> None:
    base, removed = tmp_path / "base.toml", tmp_path / "removed.toml"
    base.write_text(BASE)
    removed.write_text(REMOVED)
    assert cli("apply", stack=base).code == 0
    before = _deployed(aws)
    assert before["timeout"] == 86400
    assert before["parameters"] is not None
    assert before["FEATURE_FLAG"] == "on"
    assert before["input"] == {"who": "schedule"}
    assert all(tags.get("project") == "sfn-fleet-example" for tags in _tags(aws).values())

    plan = cli("plan", "--json", stack=removed)
    assert plan.code == 0, plan.err
    changes = {
        (s["kind"], c["field"]): (c["current"], c["desired"])
        for s in plan.json()["steps"]
        for c in s["changes"]
    }
    assert changes[("state machine", "definition.TimeoutSeconds")] == (86400, None)
    assert changes[("state machine", "definition.States.HelloWorldActivity.Parameters")][1] is None
    assert changes[("task definition", "container.environment.FEATURE_FLAG")] == ("on", None)
    assert changes[("schedule", "target.input.who")] == ("schedule", None)
    for kind in ("IAM role", "ECS cluster", "log group", "activity", "ECR repository"):
        assert changes[(kind, "tags.project")] == ("sfn-fleet-example", None), kind
    human = cli("plan", stack=removed)
    assert "- definition.TimeoutSeconds = 86400" in human.out
    assert "0 to update" not in human.out

    result = cli("apply", stack=removed)
    assert result.code == 0, result.err
    assert _deployed(aws) == {
        "timeout": None,
        "parameters": None,
        "FEATURE_FLAG": None,
        "input": {},
    }
    for kind, tags in _tags(aws).items():
        assert "project" not in tags, kind
        assert tags["sfn-fleet:stack"] == STACK, kind
    assert cli("plan", "--detailed-exitcode", stack=removed).code == 0


@pytest.mark.slow
def test_a_rule_target_input_removed_is_removed(cli: Cli, aws: Clients, tmp_path: Path) -> None:
    rule = ["--set", 'scheduler="events-rule"']
    base, removed = tmp_path / "base.toml", tmp_path / "removed.toml"
    base.write_text(BASE)
    removed.write_text(REMOVED)
    assert cli("apply", *rule, stack=base).code == 0
    (target,) = aws.events.list_targets_by_rule(Rule=f"{STACK}-hourly")["Targets"]
    assert json.loads(target["Input"]) == {"who": "schedule"}
    result = cli("apply", "--json", *rule, stack=removed)
    assert result.code == 0, result.err
    (target,) = aws.events.list_targets_by_rule(Rule=f"{STACK}-hourly")["Targets"]
    assert json.loads(target.get("Input", "{}")) == {}
    rule_arn = aws.events.describe_rule(Name=f"{STACK}-hourly")["Arn"]
    tags = aws.events.list_tags_for_resource(ResourceARN=rule_arn)["Tags"]
    assert {t["Key"] for t in tags} == {"sfn-fleet:stack"}
