"""Shipping images: pinned by digest, rolled out by apply or ship, status, redeploy, rollback."""

from __future__ import annotations

import json
import os
import stat
import sys
import uuid
from pathlib import Path

import pytest
from deploy_support import ACCOUNT, REGION, TAG, Cli, Clients

STACK = "hello-world"
REPOSITORY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{STACK}"


def push(aws: Clients, tag: str) -> str:
    """Put an image with a unique manifest under ``tag``, as a build and push would; its digest."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        # moto derives the digest from the layers: a new layer is a new image.
        "layers": [{"digest": f"sha256:{uuid.uuid4().hex * 2}", "size": 1}],
    }
    if not aws.ecr.describe_repositories()["repositories"]:
        # As `image` leaves it: the stack's own repository.
        aws.ecr.create_repository(
            repositoryName=STACK,
            imageTagMutability="IMMUTABLE",
            tags=[{"Key": "sfn-fleet:stack", "Value": STACK}],
        )
    found = aws.ecr.put_image(
        repositoryName=STACK, imageManifest=json.dumps(manifest), imageTag=tag
    )
    return str(found["image"]["imageId"]["imageDigest"])


def running(aws: Clients) -> dict[str, str]:
    """The service's task definition ARN and the image it runs."""
    service = aws.ecs.describe_services(cluster=STACK, services=[STACK])["services"][0]
    td = aws.ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
    return {
        "taskDefinition": service["taskDefinition"],
        "image": td["taskDefinition"]["containerDefinitions"][0]["image"],
    }


@pytest.mark.slow
def test_a_new_image_rolls_out_pinned_by_digest(cli: Cli, aws: Clients) -> None:
    first = push(aws, "v1")
    result = cli("apply", "--set", 'image.tag="v1"')
    assert result.code == 0, result.err
    assert "not in the ECR repository" not in result.err
    assert running(aws)["image"] == f"{REPOSITORY}@{first}"
    assert running(aws)["taskDefinition"].endswith(f"{STACK}-worker:1")

    second = push(aws, "v2")
    plan = cli("plan", "--json", "--set", 'image.tag="v2"').json()["steps"]
    changed = {s["kind"]: s["changes"] for s in plan if s["action"] == "update"}
    assert changed["task definition"] == [
        {
            "field": "container.image",
            "current": f"{REPOSITORY}@{first}",
            "desired": f"{REPOSITORY}@{second}",
        }
    ]
    assert "ECS service" in changed

    result = cli("apply", "--json", "--set", 'image.tag="v2"')
    assert result.code == 0, result.err
    assert result.json()["image"] == f"{REPOSITORY}@{second}"
    assert running(aws) == {
        "taskDefinition": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{STACK}-worker:2",
        "image": f"{REPOSITORY}@{second}",
    }
    # The same tag again: nothing to roll out.
    again = cli("apply", "--json", "--set", 'image.tag="v2"').json()["steps"]
    assert {s["action"] for s in again} <= {"unchanged", "absent"}


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto: str) -> Path:
    """A ``docker`` on PATH that logs its arguments and, on push, puts the image into ECR."""
    log = tmp_path / "docker.log"
    script = tmp_path / "bin" / "docker"
    script.parent.mkdir()
    script.write_text(
        f"#!{sys.executable}\n"
        "import boto3, json, sys, uuid\n"
        f"open({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "if sys.argv[1] == 'push':\n"
        "    repository, tag = sys.argv[2].split('/', 1)[1].rsplit(':', 1)\n"
        f"    ecr = boto3.client('ecr', endpoint_url={moto!r}, region_name={REGION!r})\n"
        "    layer = {'digest': 'sha256:' + uuid.uuid4().hex * 2, 'size': 1}\n"
        "    manifest = {'schemaVersion': 2, 'layers': [layer],"
        " 'mediaType': 'application/vnd.docker.distribution.manifest.v2+json'}\n"
        "    ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest),"
        " imageTag=tag)\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    return log


def test_ship_builds_pushes_and_rolls_out_the_commit(
    cli: Cli, aws: Clients, fake_docker: Path
) -> None:
    result = cli("ship", "--builder", "docker")
    assert result.code == 0, result.err
    commands = [json.loads(line) for line in fake_docker.read_text().splitlines()]
    assert [c[0] for c in commands] == ["login", "build", "push"]
    assert commands[2] == ["push", f"{REPOSITORY}:{TAG}"]
    digest = aws.ecr.describe_images(repositoryName=STACK, imageIds=[{"imageTag": TAG}])[
        "imageDetails"
    ][0]["imageDigest"]
    assert running(aws)["image"] == f"{REPOSITORY}@{digest}"
    assert "apply complete" in result.out
    assert "service stable" in result.out


@pytest.mark.slow
def test_status_redeploy_and_rollback(cli: Cli, aws: Clients) -> None:
    first = push(aws, "v1")
    assert cli("apply", "--set", 'image.tag="v1"').code == 0
    second = push(aws, "v2")
    assert cli("apply", "--set", 'image.tag="v2"').code == 0

    status = cli("status", "--json")
    assert status.code == 0, status.err
    shown = status.json()
    assert shown["taskDefinition"].endswith(f"{STACK}-worker:2")
    assert shown["image"] == f"{REPOSITORY}@{second}"
    assert shown["desired"] == 1
    assert [d["status"] for d in shown["deployments"]] == ["PRIMARY"]
    human = cli("status")
    assert "deployments" in human.out
    assert "PRIMARY" in human.out

    deployment = shown["deployments"][0]["id"]
    redeploy = cli("redeploy")
    assert redeploy.code == 0, redeploy.err
    assert f"new deployment of {STACK}-worker:2 started" in redeploy.out
    assert cli("status", "--json").json()["deployments"][0]["id"] != deployment

    back = cli("rollback")
    assert back.code == 0, back.err
    assert f"rolling back from {STACK}-worker:2 to {STACK}-worker:1" in back.out
    assert running(aws) == {
        "taskDefinition": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{STACK}-worker:1",
        "image": f"{REPOSITORY}@{first}",
    }
    # The revision rolled back from is deregistered, so nothing starts it again.
    inactive = aws.ecs.describe_task_definition(taskDefinition=f"{STACK}-worker:2")
    assert inactive["taskDefinition"]["status"] == "INACTIVE"

    nothing = cli("rollback")
    assert nothing.code == 1
    assert nothing.err.startswith("error: no ACTIVE revision of hello-world-worker before")
    assert "Traceback" not in nothing.err
    missing = cli("rollback", "--to", "7")
    assert missing.code == 1
    assert "revision 7 of hello-world-worker is not ACTIVE (ACTIVE revisions: 1)" in missing.err


def test_status_of_a_stack_not_applied_says_so(cli: Cli) -> None:
    result = cli("status")
    assert result.code == 1
    assert "stack 'hello-world' has no ECS service" in result.err


@pytest.mark.slow
def test_an_image_built_once_is_promoted_to_another_stack(cli: Cli, aws: Clients) -> None:
    digest = push(aws, "v7")  # built and pushed for staging (the hello-world stack)
    assert cli("apply", "--set", 'image.tag="v7"').code == 0
    prod = [
        "--set",
        'name="prod"',
        "--set",
        'activity_prefix="prod-"',
        "--set",
        f'image.uri="{REPOSITORY}:v7"',
    ]
    result = cli("apply", *prod)
    assert result.code == 0, result.err
    td = aws.ecs.describe_task_definition(taskDefinition="prod-worker")["taskDefinition"]
    # The very image staging runs, by digest, pulled from staging's repository.
    assert td["containerDefinitions"][0]["image"] == f"{REPOSITORY}@{digest}"
    policy = aws.iam.get_role_policy(RoleName="prod-execution", PolicyName="sfn-fleet")
    pull = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}["EcrPull"]
    assert pull["Resource"] == [f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{STACK}"]
    assert [r["repositoryName"] for r in aws.ecr.describe_repositories()["repositories"]] == [
        STACK
    ]  # prod made no repository of its own
