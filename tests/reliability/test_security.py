"""Security in the same pass: the listener binds where told and serves only GET, the image runs
as a non-root user, and the IAM policies that deploy writes reach only the stack's resources.

(No task token in any log line or metric label is checked by every fault case: see
``support.faults.assert_nothing_lost``.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import boto3
import psutil
import pytest
from reliability_support import SLEEPER, stop
from support.faults import leaked_tokens
from support.fleet_process import FleetProcess, fleet_process
from support.moto import moto_server
from support.worker import client, create_machine, unique

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's account


def listening(worker: FleetProcess) -> set[tuple[str, int]]:
    """Every address the worker process listens on."""
    connections = psutil.Process(worker.pid).net_connections(kind="inet")
    return {(c.laddr.ip, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN}


async def wait_listening(worker: FleetProcess, host: str) -> None:
    with anyio.fail_after(20):
        while (host, worker.port) not in listening(worker):
            assert worker.process.returncode is None, "\n".join(worker.lines)
            await anyio.sleep(0.1)


async def test_the_listener_binds_where_configured_and_serves_only_get(
    tmp_path: Path, make_endpoint: Any
) -> None:
    name = unique("Listener")
    async with make_endpoint() as emu, client(emu.endpoint_url) as sfn:
        await create_machine(sfn, name)
        async with (
            fleet_process(tmp_path, SLEEPER.format(name=name), emu.endpoint_url,
                          "--metrics-host", "127.0.0.2", name="aside") as aside,
            fleet_process(tmp_path, SLEEPER.format(name=name), emu.endpoint_url,
                          name="default") as default,
        ):  # fmt: skip
            await wait_listening(aside, "127.0.0.2")
            await wait_listening(default, "127.0.0.1")
            # Each listens on exactly one address: the configured one, loopback by default.
            assert listening(aside) == {("127.0.0.2", aside.port)}
            assert listening(default) == {("127.0.0.1", default.port)}
            base = f"http://127.0.0.2:{aside.port}"
            async with aiohttp.ClientSession() as session:
                with pytest.raises(aiohttp.ClientConnectorError):
                    await session.get(f"http://127.0.0.1:{aside.port}/metrics")
                for path in ("/metrics", "/healthz", "/readyz"):
                    for method in ("GET", "HEAD"):
                        async with session.request(method, base + path) as response:
                            assert response.status in (200, 503), (method, path)
                    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
                        async with session.request(method, base + path, data=b"{}") as response:
                            assert response.status == 405, (method, path)
                for path in ("/", "/metrics/x", "/debug", "/../etc/passwd"):
                    async with session.get(base + path) as response:
                        assert response.status == 404, path
            await stop(aside)
            await stop(default)


def final_stage(dockerfile: str) -> list[tuple[str, str]]:
    """The instructions of the Dockerfile's last stage, as (INSTRUCTION, arguments)."""
    lines: list[str] = []
    for raw in dockerfile.replace("\\\n", " ").splitlines():
        stripped = raw.strip()
        if stripped and not stripped.startswith("#"):
            lines.append(stripped)
    stages: list[list[tuple[str, str]]] = []
    for line in lines:
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction.upper(), arguments.strip()))
    return stages[-1]


def test_the_image_runs_as_a_non_root_user() -> None:
    stage = final_stage((ROOT / "Dockerfile").read_text())
    users = [arguments for instruction, arguments in stage if instruction == "USER"]
    assert users, "the final stage sets no USER, so the worker would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert not user.isdigit() or int(user) > 0


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """A moto server in a subprocess, for deploy to apply stacks to."""
    with moto_server() as url:
        yield url


def apply(url: str, stack_file: Path, *overrides: str) -> None:
    """``python -m deploy apply`` of ``stack_file``, on a network made for it in moto."""
    ec2 = boto3.client("ec2", endpoint_url=url, region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24")["Subnet"]["SubnetId"]
        for i in (1, 2)
    ]
    group = ec2.create_security_group(GroupName=vpc, Description="workers", VpcId=vpc)
    command = [
        sys.executable, "-m", "deploy", "apply", "--stack", str(stack_file),
        "--endpoint-url", url, "--no-wait",
        "--set", f"network.subnets={json.dumps(subnets)}",
        "--set", f'network.security_groups=["{group["GroupId"]}"]',
        *overrides,
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=60, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stdout + done.stderr


def stack_file(tmp_path: Path, stack: str, activity: str) -> Path:
    """The example stack, named ``stack``, with its one activity named ``activity``."""
    text = (ROOT / "deploy" / "stack.example.toml").read_text()
    assert 'name = "hello-world"' in text
    assert 'name = "HelloWorldActivity"' in text
    text = text.replace('name = "hello-world"', f'name = "{stack}"')
    text = text.replace('name = "HelloWorldActivity"', f'name = "{activity}"')
    # Outside the checkout there is no commit to tag the image with.
    text = text.replace("[image]\n", '[image]\ntag = "v1"\n')
    path = tmp_path / f"{stack}.toml"
    path.write_text(text)
    return path


BATCH = [
    "--set", 'mode="batch"', "--set", "sizing.tasks_per_run=1200",
    "--set", "sizing.deadline_seconds=3600", "--set", "sizing.duration_mean_seconds=20",
    "--set", "sizing.duration_p95_seconds=60", "--set", "sizing.spot_share=0",
]  # fmt: skip


def allowed(stack: str, activity_name: str) -> dict[str, set[str]]:
    """Each action a stack's roles may need, and the only resources it may name.

    Written out from the stack's names here, not taken from deploy, so that a policy that
    reaches beyond its own stack cannot pass by construction.
    """
    states = f"arn:aws:states:{REGION}:{ACCOUNT}"
    activity = f"{states}:activity:{activity_name}"
    machine = f"{states}:stateMachine:{stack}"
    ecs = f"arn:aws:ecs:{REGION}:{ACCOUNT}"
    family = f"{ecs}:task-definition/{stack}-worker"
    tasks = f"{ecs}:task/{stack}/*"
    log_group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/sfn-fleet/{stack}:*"
    repository = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{stack}"
    roles = {f"arn:aws:iam::{ACCOUNT}:role/{stack}-{r}" for r in ("execution", "task")}
    return {
        "states:GetActivityTask": {activity},
        "states:DescribeActivity": {activity},
        "states:SendTaskSuccess": {activity, machine},
        "states:SendTaskFailure": {activity, machine},
        "states:SendTaskHeartbeat": {activity, machine},
        "states:StartExecution": {machine},
        "ecs:GetTaskProtection": {tasks},
        "ecs:UpdateTaskProtection": {tasks},
        # A worker checks that its deployment is still the service's PRIMARY one.
        "ecs:DescribeTasks": {tasks},
        "ecs:DescribeServices": {f"{ecs}:service/{stack}/{stack}"},
        "ecs:TagResource": {tasks},
        "ecs:RunTask": {family, f"{family}:*"},
        "iam:PassRole": roles,
        "logs:CreateLogStream": {log_group},
        "logs:PutLogEvents": {log_group},
        "ecr:BatchCheckLayerAvailability": {repository},
        "ecr:BatchGetImage": {repository},
        "ecr:GetDownloadUrlForLayer": {repository},
        # The one action with no resource-level permissions.
        "ecr:GetAuthorizationToken": {"*"},
        # Schedules send a start that failed every retry to the stack's dead-letter queue.
        "sqs:SendMessage": {f"arn:aws:sqs:{REGION}:{ACCOUNT}:{stack}-schedule-dlq"},
        # The state machine's execution logs: CloudWatch Logs delivery has no resource-level
        # permissions either.
        **{f"logs:{action}": {"*"} for action in LOG_DELIVERY},
    }


LOG_DELIVERY = (
    "CreateLogDelivery",
    "DeleteLogDelivery",
    "DescribeLogGroups",
    "DescribeResourcePolicies",
    "GetLogDelivery",
    "ListLogDeliveries",
    "PutResourcePolicy",
    "UpdateLogDelivery",
)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_deploys_iam_policies_reach_only_the_stacks_own_resources(
    moto_url: str, tmp_path: Path
) -> None:
    # Two stacks side by side in one account: a service, and a batch job whose schedule
    # also runs worker tasks. Each one's policies must reach only its own resources.
    stacks = {"svc-stack": ("SvcWork", []), "batch-stack": ("BatchWork", BATCH)}
    for stack, (activity, overrides) in stacks.items():
        apply(moto_url, stack_file(tmp_path, stack, activity), *overrides)
    iam = boto3.client("iam", endpoint_url=moto_url, region_name=REGION)
    roles = iam.list_roles()["Roles"]
    services = {"ecs-tasks.amazonaws.com", "states.amazonaws.com", "scheduler.amazonaws.com"}
    checked: dict[str, int] = {}
    for stack, (activity, _) in stacks.items():
        permitted = allowed(stack, activity)
        mine = [r for r in roles if r["RoleName"].startswith(f"{stack}-")]
        assert len(mine) >= 3, [r["RoleName"] for r in roles]
        for role in mine:
            role_name = role["RoleName"]
            # Only AWS services of this stack's kind may assume it, never an account or user.
            for statement in as_list(role["AssumeRolePolicyDocument"]["Statement"]):
                assert set(statement["Principal"]) == {"Service"}, role_name
                assert set(as_list(statement["Principal"]["Service"])) <= services, role_name
            assert iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"] == []
            for policy in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
                document = iam.get_role_policy(RoleName=role_name, PolicyName=policy)
                for statement in as_list(document["PolicyDocument"]["Statement"]):
                    where = f"{role_name}/{statement.get('Sid')}"
                    assert statement["Effect"] == "Allow", where
                    assert "NotAction" not in statement, where
                    assert "NotResource" not in statement, where
                    actions = as_list(statement["Action"])
                    resources = set(as_list(statement["Resource"]))
                    for action in actions:
                        assert action in permitted, f"{where}: unexpected permission {action}"
                        assert resources <= permitted[action], f"{where}: {action} on {resources}"
                    checked[role_name] = checked.get(role_name, 0) + 1
    # The worker's task role and the batch schedule are among what was checked.
    assert checked["svc-stack-task"] >= 3
    assert checked["batch-stack-schedule"] >= 4
    # Service mode: schedules only start executions (and dead-letter the failed starts).
    assert checked["svc-stack-schedule"] == 2


def test_a_leaked_token_would_be_found() -> None:
    """The token search of every fault case finds a token, or a piece of one, in a log line."""
    token = "AAAAKgAAAAIAAAAAAAAAAWz5Xq0rVn8y7uHf1Ht3cR2k9QeWm4sL0pJdBn6Aa1Zc_-Yx"
    line = json.dumps({"message": "reporting", "detail": f"token={token[10:60]}"})
    assert leaked_tokens([line], token)
    assert not leaked_tokens([json.dumps({"token": "3f9a0c1b2d4e"})], token)
