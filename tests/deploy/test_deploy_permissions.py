"""What the worker may do: its own statements, managed policies, a boundary, secrets, drift."""

from __future__ import annotations

import json
from typing import Any

import pytest
from deploy_support import ACCOUNT, REGION, Cli, Clients

STACK = "hello-world"
PARAMETER = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/hello/api-key"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:hello/db-AbCdEf"
BUCKET = "arn:aws:s3:::hello-input/*"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _policy(aws: Clients, role: str) -> dict[str, dict[str, Any]]:
    document = aws.iam.get_role_policy(RoleName=role, PolicyName="sfn-fleet")["PolicyDocument"]
    return {s["Sid"]: s for s in document["Statement"]}


def _attached(aws: Clients, role: str) -> list[str]:
    found = aws.iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    return sorted(p["PolicyArn"] for p in found)


def _permissions(aws: Clients) -> list[str]:
    reader = aws.iam.create_policy(
        PolicyName="hello-reader",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}],
            }
        ),
    )["Policy"]["Arn"]
    boundary = aws.iam.create_policy(
        PolicyName="boundary",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )["Policy"]["Arn"]
    return [
        "--set",
        f'worker.secrets={{ API_KEY = "{PARAMETER}", DB_PASSWORD = "{SECRET}:password::" }}',
        "--set",
        f'worker.statements=[{{ actions = ["s3:GetObject"], resources = ["{BUCKET}"] }}]',
        "--set",
        f'worker.secrets_kms_keys=["{KEY}"]',
        "--set",
        f'worker.managed_policies=["{reader}"]',
        "--set",
        f'permissions_boundary="{boundary}"',
    ]


def test_statements_policies_boundary_and_secrets_are_scoped(cli: Cli, aws: Clients) -> None:
    extra = _permissions(aws)
    result = cli("apply", *extra)
    assert result.code == 0, result.err

    task = _policy(aws, f"{STACK}-task")
    assert task["Worker1"] == {
        "Sid": "Worker1",
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": [BUCKET],
    }
    reader = f"arn:aws:iam::{ACCOUNT}:policy/hello-reader"
    assert _attached(aws, f"{STACK}-task") == [reader]
    assert _attached(aws, f"{STACK}-execution") == []  # managed policies are the worker's
    for purpose in ("execution", "task", "states", "schedule"):
        role = aws.iam.get_role(RoleName=f"{STACK}-{purpose}")["Role"]
        assert role["PermissionsBoundary"]["PermissionsBoundaryArn"].endswith(":policy/boundary")

    # The execution role reads exactly the secrets the task definition names.
    execution = _policy(aws, f"{STACK}-execution")
    assert execution["ReadParameters"]["Action"] == ["ssm:GetParameters"]
    assert execution["ReadParameters"]["Resource"] == [PARAMETER]
    assert execution["ReadSecrets"]["Action"] == ["secretsmanager:GetSecretValue"]
    assert execution["ReadSecrets"]["Resource"] == [SECRET]  # without the json-key suffix
    assert execution["DecryptSecrets"] == {
        "Sid": "DecryptSecrets",
        "Effect": "Allow",
        "Action": ["kms:Decrypt"],
        "Resource": [KEY],
    }
    td = aws.ecs.describe_task_definition(taskDefinition=f"{STACK}-worker")["taskDefinition"]
    assert td["containerDefinitions"][0]["secrets"] == [
        {"name": "API_KEY", "valueFrom": PARAMETER},
        {"name": "DB_PASSWORD", "valueFrom": f"{SECRET}:password::"},
    ]
    assert cli("plan", "--detailed-exitcode", *extra).code == 0

    # Removing them removes them.
    bare = cli("apply")
    assert bare.code == 0, bare.err
    assert "Worker1" not in _policy(aws, f"{STACK}-task")
    assert _attached(aws, f"{STACK}-task") == []
    assert "PermissionsBoundary" not in aws.iam.get_role(RoleName=f"{STACK}-task")["Role"]
    assert set(_policy(aws, f"{STACK}-execution")) == {"Logs", "EcrLogin", "EcrPull"}
    td = aws.ecs.describe_task_definition(taskDefinition=f"{STACK}-worker")["taskDefinition"]
    assert not td["containerDefinitions"][0].get("secrets")


@pytest.mark.slow
def test_policies_added_by_hand_are_reported_and_removed(cli: Cli, aws: Clients) -> None:
    assert cli("apply").code == 0
    role = f"{STACK}-task"
    aws.iam.put_role_policy(
        RoleName=role,
        PolicyName="hand-made",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    admin = aws.iam.create_policy(
        PolicyName="admin",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )["Policy"]["Arn"]
    aws.iam.attach_role_policy(RoleName=role, PolicyArn=admin)

    plan = cli("plan", "--detailed-exitcode")
    assert plan.code == 2
    assert "inlinePolicies:" in plan.out
    assert "- hand-made" in plan.out
    assert f"- {admin}" in plan.out

    assert cli("apply").code == 0
    assert aws.iam.list_role_policies(RoleName=role)["PolicyNames"] == ["sfn-fleet"]
    assert _attached(aws, role) == []


def test_a_changed_statement_shows_element_by_element(cli: Cli, aws: Clients) -> None:
    body = f'sid = "Input", actions = ["s3:GetObject"], resources = ["{BUCKET}"]'
    statement = f"worker.statements=[{{ {body} }}]"
    assert cli("apply", "--set", statement).code == 0
    wider = statement.replace('["s3:GetObject"]', '["s3:GetObject", "s3:PutObject"]')
    plan = cli("plan", "--set", wider)
    # One line per added action, nothing cut short.
    assert "policy.Statement[Input].Action:" in plan.out
    assert "+ s3:PutObject" in plan.out
    assert "…" not in plan.out
    steps = cli("plan", "--json", "--set", wider).json()["steps"]
    role = next(s for s in steps if s["name"] == f"{STACK}-task")
    assert role["changes"] == [
        {
            "field": "policy.Statement[Input].Action",
            "current": ["s3:GetObject"],
            "desired": ["s3:GetObject", "s3:PutObject"],
        }
    ]


def test_new_resources_show_their_main_attributes(cli: Cli) -> None:
    plan = cli("plan")
    assert "cpu = 256" in plan.out
    assert "container.stopTimeout = 120" in plan.out
    assert "retentionInDays = 30" in plan.out


def test_a_private_ecr_image_elsewhere_keeps_pull_permissions(cli: Cli, aws: Clients) -> None:
    uri = f"210987654321.dkr.ecr.{REGION}.amazonaws.com/builds/worker:1.4.2"
    result = cli("apply", "--set", f'image.uri="{uri}"')
    assert result.code == 0, result.err
    execution = _policy(aws, f"{STACK}-execution")
    assert execution["EcrLogin"]["Resource"] == ["*"]
    assert execution["EcrPull"]["Resource"] == [
        f"arn:aws:ecr:{REGION}:210987654321:repository/builds/worker"
    ]
    # A public image needs no registry permissions at all.
    assert cli("apply", "--set", 'image.uri="public.ecr.aws/docker/library/python:3.12"').code == 0
    assert set(_policy(aws, f"{STACK}-execution")) == {"Logs"}


def test_bad_secrets_and_statements_are_one_line_each(cli: Cli) -> None:
    result = cli(
        "plan",
        "--set",
        'worker.secrets={ "bad name" = "arn:aws:ssm:us-east-1:123456789012:parameter/x" }',
    )
    assert result.code == 1
    assert "worker.secrets: 'bad name' is not an environment variable name" in result.err
    result = cli("plan", "--set", 'worker.secrets={ KEY = "plain-text" }')
    assert "is not the ARN of a Secrets Manager secret" in result.err
    result = cli(
        "plan", "--set", 'worker.statements=[{ actions = ["GetObject"], resources = ["*"] }]'
    )
    assert "'GetObject' is not an IAM action such as 's3:GetObject'" in result.err
