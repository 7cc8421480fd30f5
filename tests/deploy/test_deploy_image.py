"""image: builder choice, the commands it runs, ECR login from the authorisation token."""

from __future__ import annotations

import json

import pytest
from deploy_support import ACCOUNT, EXAMPLE, ROOT, TAG, Cli, Clients

from deploy import image
from deploy.errors import DeployError

REGISTRY = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"


def test_builder_preference() -> None:
    assert image.find_builder(lambda name: "/usr/bin/" + name) == "docker"
    assert image.find_builder(lambda name: None if name == "docker" else "/x") == "buildah"
    assert image.find_builder(lambda name: "/x" if name == "podman" else None) == "podman"
    with pytest.raises(DeployError, match="install docker, buildah or podman"):
        image.find_builder(lambda name: None)


def test_dry_run_prints_the_commands(cli: Cli, aws: Clients) -> None:
    result = cli(
        "image",
        "--dry-run",
        "--builder",
        "buildah",
        "--set",
        'image.tag="abc123"',
        "--set",
        'image.base_image="python:3.12-slim"',
    )
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "aws ecr get-login-password --region us-east-1 | buildah login --username AWS "
        f"--password-stdin {REGISTRY}",
        "buildah build --platform linux/arm64 --format docker "
        f"--build-arg REVISION={image.git_revision(ROOT)} --build-arg BASE_IMAGE=python:3.12-slim "
        f"-f {ROOT / 'Dockerfile'} -t {REGISTRY}/hello-world:abc123 {ROOT}",
        f"buildah push {REGISTRY}/hello-world:abc123",
    ]
    # A dry run changes nothing.
    assert aws.ecr.describe_repositories()["repositories"] == []
    assert len(image.git_revision(ROOT)) == 40  # the label names the commit the image holds


def test_push_logs_in_with_the_token_and_creates_the_repository(
    cli: Cli, aws: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[image.Command] = []
    monkeypatch.setattr(image, "run", ran.append)
    result = cli("image", "--builder", "docker", "--set", 'architecture="x86_64"')
    assert result.code == 0, result.err
    login, build, push = ran
    # moto's token is base64("AWS:<password>"); the password goes to stdin, never argv.
    assert login.argv == ["docker", "login", "--username", "AWS", "--password-stdin", REGISTRY]
    assert login.stdin
    assert login.stdin not in result.out
    assert "--platform" in build.argv
    assert build.argv[build.argv.index("--platform") + 1] == "linux/amd64"
    # No image.tag: the tag is the commit of the checkout that holds the stack file.
    assert push.argv == ["docker", "push", f"{REGISTRY}/hello-world:{TAG}"]
    repo = aws.ecr.describe_repositories(repositoryNames=["hello-world"])["repositories"][0]
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True

    plan = cli("plan", "--json")
    assert [w for w in plan.json()["warnings"] if "not in the ECR repository" in w]
    # Once the image is there (as the push would leave it), the warning goes away.
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    }
    aws.ecr.put_image(
        repositoryName="hello-world", imageManifest=json.dumps(manifest), imageTag=TAG
    )
    assert cli("plan", "--json").json()["warnings"] == []


def test_image_uri_elsewhere_has_nothing_to_push(cli: Cli) -> None:
    result = cli("image", "--dry-run", "--builder", "docker", "--set", 'image.uri="ghcr.io/x/y:1"')
    assert result.code == 1
    assert "nothing to build and push" in result.err
    assert str(EXAMPLE)  # the example stack was used
