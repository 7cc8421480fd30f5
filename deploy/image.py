"""`image`: build the worker image and push it to the stack's ECR repository."""

from __future__ import annotations

import base64
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deploy.aws import Aws
from deploy.errors import DeployError
from deploy.names import Names
from deploy.stack import Stack

REPO_ROOT = Path(__file__).resolve().parents[1]
BUILDERS = ("docker", "buildah", "podman")
PLATFORMS = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}


@dataclass(frozen=True)
class Command:
    """One command to run; ``stdin`` is secret input (the registry password), never printed."""

    argv: list[str]
    stdin: str | None = None
    region: str = ""

    def display(self) -> str:
        """The command as a shell line, with the password shown as where it comes from."""
        line = shlex.join(self.argv)
        if self.stdin is not None:
            return f"aws ecr get-login-password --region {self.region} | {line}"
        return line


def find_builder(which: Callable[[str], str | None] = shutil.which) -> str:
    """The first of docker, buildah, podman on PATH; raises DeployError if none is."""
    for name in BUILDERS:
        if which(name):
            return name
    raise DeployError("no image builder found: install docker, buildah or podman")


def commands(
    stack: Stack, names: Names, builder: str, tag: str, password: str | None
) -> list[Command]:
    """Log in to ECR, build for the stack's architecture, push; in the order to run them."""
    if stack.image.uri:
        raise DeployError(
            f"image.uri is set ({stack.image.uri}): the stack runs an image from elsewhere, "
            "so there is nothing to build and push here"
        )
    registry = names.repository_uri.split("/")[0]
    reference = f"{names.repository_uri}:{tag}"
    build = [builder, "build", "--platform", PLATFORMS[stack.architecture]]
    if builder != "docker":
        # buildah and podman default to the OCI format, which has no HEALTHCHECK.
        build += ["--format", "docker"]
    revision = git_revision()
    if revision:
        build += ["--build-arg", f"REVISION={revision}"]
    if stack.image.base_image:
        build += ["--build-arg", f"BASE_IMAGE={stack.image.base_image}"]
    build += ["-f", str(REPO_ROOT / stack.image.dockerfile), "-t", reference, str(REPO_ROOT)]
    return [
        Command(
            [builder, "login", "--username", "AWS", "--password-stdin", registry],
            password or "",
            stack.region,
        ),
        Command(build),
        Command([builder, "push", reference]),
    ]


def git_revision() -> str:
    """The checkout's commit, for the image's OCI revision label; empty outside git."""
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


async def ecr_password(aws: Aws) -> str:
    """The ECR registry password from the authorisation token (base64 of ``AWS:<password>``)."""
    ecr = await aws.client("ecr")
    found = await ecr.get_authorization_token()
    token = found["authorizationData"][0]["authorizationToken"]
    user, _, password = base64.b64decode(token).decode().partition(":")
    if user != "AWS" or not password:
        raise DeployError("ECR returned an authorisation token in an unexpected shape")
    return password


def run(command: Command) -> None:
    """Run one command, streaming its output; raises DeployError if it fails."""
    try:
        subprocess.run(command.argv, input=command.stdin, text=True, check=True)
    except FileNotFoundError:
        raise DeployError(f"{command.argv[0]} is not installed") from None
    except subprocess.CalledProcessError as exc:
        raise DeployError(f"`{command.display()}` exited with status {exc.returncode}") from None
