"""Fixtures for deploy tests: a moto server on a free port, fake credentials, a VPC, the CLI."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.client import AioBaseClient
from deploy_support import MOTO_RUNNING_TASKS, REGION, Cli, Clients, Network
from support.moto import moto_server as run_moto


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server in a subprocess (its own warnings and GIL), shared by the session."""
    with run_moto(MOTO_ECS_SERVICE_RUNNING=str(MOTO_RUNNING_TASKS)) as url:
        yield url


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials and no user AWS config, so nothing can reach a real account."""
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def moto(moto_server: str) -> str:
    """The moto endpoint, emptied before the test."""
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    return moto_server


@pytest.fixture
def aws(moto: str) -> Clients:
    """boto3 clients for reading resources back."""
    return Clients(moto)


@pytest.fixture
def network(aws: Clients) -> Network:
    """A VPC with two subnets and a security group for the example stack."""
    vpc = aws.ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = tuple(
        aws.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24")["Subnet"]["SubnetId"]
        for i in (1, 2)
    )
    group = aws.ec2.create_security_group(GroupName="workers", Description="w", VpcId=vpc)
    return Network(subnets=(subnets[0], subnets[1]), security_group=group["GroupId"])


@pytest.fixture
def cli(moto: str, network: Network, capsys: pytest.CaptureFixture[str]) -> Cli:
    """The deploy CLI bound to moto and the test network."""
    return Cli(moto, network, capsys)


@pytest.fixture
def api_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every AWS operation deploy calls from here on, as ``service:Operation``."""
    calls: list[str] = []
    original = AioBaseClient._make_api_call

    async def recording(self: Any, operation_name: str, api_params: Any) -> Any:
        calls.append(f"{self.meta.service_model.service_name}:{operation_name}")
        return await original(self, operation_name, api_params)

    monkeypatch.setattr(AioBaseClient, "_make_api_call", recording)
    return calls
