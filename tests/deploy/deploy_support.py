"""Helpers for deploy tests: the repo on sys.path, constants, boto3 read-back, the CLI runner."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    # `deploy` runs from a checkout (python -m deploy); it is not an installed package.
    sys.path.insert(0, str(ROOT))

from deploy.__main__ import main  # noqa: E402
from deploy.image import git_revision  # noqa: E402

EXAMPLE = ROOT / "deploy" / "stack.example.toml"
# The example stack sets no image tag: it is the commit of the checkout.
TAG = git_revision(ROOT, short=True)
# Stack files copied out of the checkout have no commit; they run this tag.
OUTSIDE_TAG = "v1"
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
# moto reports this many running tasks for every new ECS service, with rolloutState
# COMPLETED when that covers the desired count, so the waiter can finish against it.
MOTO_RUNNING_TASKS = 50


class Clients:
    """boto3 clients on moto, to read back what deploy did as a user would."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._cache: dict[str, Any] = {}

    def __getattr__(self, service: str) -> Any:
        name = service.replace("_", "-")
        if name not in self._cache:
            self._cache[name] = boto3.client(name, endpoint_url=self.url, region_name=REGION)
        return self._cache[name]


@dataclass(frozen=True)
class Network:
    """A VPC in moto with two subnets and a security group."""

    subnets: tuple[str, str]
    security_group: str

    def overrides(self) -> list[str]:
        """``--set`` arguments pointing the example stack at this network."""
        return [
            "--set",
            f"network.subnets={json.dumps(list(self.subnets))}",
            "--set",
            f'network.security_groups=["{self.security_group}"]',
        ]


@dataclass
class Result:
    """What one CLI run returned and printed."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout parsed as JSON."""
        return json.loads(self.out)


class Cli:
    """Runs ``python -m deploy`` in-process against moto with the example stack."""

    def __init__(self, url: str, network: Network, capsys: pytest.CaptureFixture[str]) -> None:
        self.url = url
        self.network = network
        self.capsys = capsys

    def __call__(self, command: str, *args: str, stack: Path = EXAMPLE) -> Result:
        argv = [command, "--stack", str(stack)]
        if command != "size":
            argv += ["--endpoint-url", self.url]
        argv += self.network.overrides() + list(args)
        if stack != EXAMPLE and command != "size" and not any("image.tag" in a for a in args):
            argv += ["--set", f'image.tag="{OUTSIDE_TAG}"']
        if command in ("apply", "ship", "redeploy", "rollback") and "--wait-timeout" not in args:
            argv += ["--wait-timeout", "5", "--poll-interval", "0.05"]
        if command == "destroy":
            argv += ["--yes", "--poll-interval", "0.05"]
        self.capsys.readouterr()
        code = main(argv)
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def run_bare(self, command: str, *args: str) -> Result:
        """Run ``command`` with ``args`` and the endpoint only (no stack file, no overrides)."""
        self.capsys.readouterr()
        code = main([command, "--endpoint-url", self.url, *args])
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)


READ_ONLY_PREFIXES = ("Describe", "List", "Get")


def mutating(calls: list[str]) -> list[str]:
    """The calls (``service:Operation``) that are not reads."""
    return [c for c in calls if not c.split(":")[1].startswith(READ_ONLY_PREFIXES)]
