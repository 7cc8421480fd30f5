"""`image`: build the worker image and push it to the stack's ECR repository; find its digest.

Task definitions name the image by digest (``repository@sha256:...``), so that a new image is
a new revision that ECS rolls out, and a revision always runs the bytes it was made with.
"""

from __future__ import annotations

import base64
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError

from deploy.aws import Aws, error_code
from deploy.errors import DeployError
from deploy.names import Names
from deploy.stack import Stack

BUILDERS = ("docker", "buildah", "podman")
PLATFORMS = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}
# <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>[:<tag>][@<digest>]
_ECR_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?/"
    r"(?P<repository>[a-z0-9._/-]+?)(:(?P<tag>[\w.-]+))?(@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


@dataclass(frozen=True)
class EcrImage:
    """An image in a private ECR repository, as parsed from its URI."""

    account: str
    region: str
    repository: str
    tag: str | None
    digest: str | None


def parse_ecr_uri(uri: str) -> EcrImage | None:
    """The parts of a private ECR image URI; None for any other registry.

    >>> parse_ecr_uri("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/worker:v1").repository
    'team/worker'
    >>> parse_ecr_uri("ghcr.io/x/y:1") is None
    True
    """
    found = _ECR_URI.match(uri)
    if found is None:
        return None
    return EcrImage(
        found["account"], found["region"], found["repository"], found["tag"], found["digest"]
    )


def image_tag(stack: Stack) -> str:
    """``image.tag``, or the short commit of the git checkout holding the stack file.

    Raises DeployError when there is neither.
    """
    if stack.image.tag:
        return stack.image.tag
    revision = git_revision(stack.base_dir, short=True)
    if not revision:
        raise DeployError(
            f"image.tag is not set and {stack.base_dir} is not in a git checkout: set it in "
            "the stack file or pass --set image.tag=..."
        )
    return revision


def build_context(stack: Stack) -> Path:
    """The build context directory: ``image.context`` relative to the stack file."""
    return (stack.base_dir / stack.image.context).resolve()


async def image_digest(
    aws: Aws, repository: str, tag: str, registry: str | None = None
) -> str | None:
    """The digest ECR holds for ``repository:tag``; None if the tag (or repository) is not there."""
    ecr = await aws.client("ecr")
    extra = {"registryId": registry} if registry else {}
    try:
        found = await ecr.describe_images(
            repositoryName=repository, imageIds=[{"imageTag": tag}], **extra
        )
    except ClientError as exc:
        if error_code(exc) in ("RepositoryNotFoundException", "ImageNotFoundException"):
            return None
        raise
    details = found.get("imageDetails", [])
    return str(details[0]["imageDigest"]) if details else None


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
    revision = git_revision(stack.base_dir)
    if revision:
        build += ["--build-arg", f"REVISION={revision}"]
    if stack.image.base_image:
        build += ["--build-arg", f"BASE_IMAGE={stack.image.base_image}"]
    context = build_context(stack)
    build += ["-f", str(context / stack.image.dockerfile), "-t", reference, str(context)]
    return [
        Command(
            [builder, "login", "--username", "AWS", "--password-stdin", registry],
            password or "",
            stack.region,
        ),
        Command(build),
        Command([builder, "push", reference]),
    ]


def git_revision(directory: Path, short: bool = False) -> str:
    """The commit checked out at ``directory`` (12 characters if ``short``); empty outside git."""
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", *(["--short=12"] if short else []), "HEAD"],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def git_dirty(directory: Path) -> bool:
    """Whether the checkout at ``directory`` has uncommitted changes (the tag would not say)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and bool(done.stdout.strip())


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
