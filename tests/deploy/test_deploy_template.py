"""`template`: cfn-lint clean, equal to the reviewed golden files, and the same as apply."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_support import ACCOUNT, EXAMPLE, Cli, Clients

from deploy import iam, template
from deploy.__main__ import main
from deploy.aws import Aws
from deploy.engine import open_context
from deploy.resources import resources
from deploy.resources.autoscaling import ScalingPolicy
from deploy.resources.peaks import ScheduledAction
from deploy.stack import Stack, load_stack

GOLDEN = Path(__file__).parent / "golden"
# Variants that between them use every resource kind: service mode with Scheduler, with the
# operational alarms and a peak, batch mode with Events rules, no schedules with ECS Exec.
VARIANTS: dict[str, list[str]] = {
    "service": [],
    "alarms-peaks": [
        "--set",
        "alarms.enabled=true",
        "--set",
        'peaks=[{name="monday", expression="cron(0 8 ? * MON *)", min_tasks=4, max_tasks=10}]',
    ],
    "batch-rules": [
        "--set",
        'mode="batch"',
        "--set",
        "sizing.tasks_per_run=500",
        "--set",
        "sizing.deadline_seconds=600",
        "--set",
        'scheduler="events-rule"',
    ],
    "exec-no-schedules": [
        "--set",
        "worker.ecs_exec=true",
        "--set",
        "worker.read_only_root=false",
        "--set",
        "schedules=[]",
    ],
}
CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def _template(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    assert main(["template", "--stack", str(EXAMPLE), *args]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_template_matches_its_golden_file(variant: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = _template(capsys, *VARIANTS[variant])
    golden = GOLDEN / f"template-{variant}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text(), (
        f"the template changed: review it and run UPDATE_GOLDEN=1 pytest {__file__}"
    )
    # YAML is the same document.
    assert yaml.safe_load(_template(capsys, *VARIANTS[variant], "--format", "yaml")) == (
        json.loads(text)
    )


@pytest.mark.slow
def test_templates_pass_cfn_lint_without_a_warning(tmp_path: Path) -> None:
    files = []
    for variant in VARIANTS:
        # The golden files are what the previous test proved the command writes.
        files.append(str(GOLDEN / f"template-{variant}.json"))
    # One YAML file too, as written by the command.
    yaml_file = tmp_path / "service.yaml"
    yaml_file.write_text(template.dumps(json.loads(Path(files[0]).read_text()), "yaml"))
    files.append(str(yaml_file))
    found = subprocess.run(
        [str(CFN_LINT), "--format", "parseable", *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (found.returncode, found.stdout, found.stderr) == (0, "", "")


def test_every_resource_of_the_model_is_in_the_template(capsys: pytest.CaptureFixture[str]) -> None:
    kinds = {
        body["Type"]
        for variant in VARIANTS.values()
        for body in json.loads(_template(capsys, *variant))["Resources"].values()
    }
    assert kinds == {
        "AWS::ECR::Repository",
        "AWS::Logs::LogGroup",
        "AWS::IAM::Role",
        "AWS::ECS::Cluster",
        "AWS::ECS::TaskDefinition",
        "AWS::StepFunctions::Activity",
        "AWS::StepFunctions::StateMachine",
        "AWS::ECS::Service",
        "AWS::ApplicationAutoScaling::ScalableTarget",
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        "AWS::CloudWatch::Alarm",
        "AWS::SQS::Queue",
        "AWS::SQS::QueuePolicy",
        "AWS::SNS::Topic",
        "AWS::Scheduler::ScheduleGroup",
        "AWS::Scheduler::Schedule",
        "AWS::Events::Rule",
        "AWS::CloudWatch::Dashboard",
    }


def _concrete(value: Any, refs: dict[str, Any]) -> Any:
    """The template value as CloudFormation would resolve it in moto's account.

    Policy documents are compared in IAM's canonical form, as apply compares them.
    """
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return refs[value["Ref"]]
        if set(value) == {"Fn::Sub"}:
            return value["Fn::Sub"].replace(template.ACCOUNT, ACCOUNT)
        out = {k: _concrete(v, refs) for k, v in value.items()}
        return iam.canonical(out) if "Statement" in out else out
    if isinstance(value, list):
        return [_concrete(v, refs) for v in value]
    return value


async def _read_back(stack: Stack, url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each declared resource as apply left it in moto, by logical id, and the ARNs of each."""
    async with Aws(stack.region, endpoint_url=url) as client:
        ctx = await open_context(stack, client)
        current: dict[str, Any] = {}
        arns: dict[str, Any] = {}
        for res in await resources(ctx, discover=False):
            state = await res.read()
            res.record(state)
            lid = template.logical_id(res)
            current[lid] = (res, state)
            if state is not None and "arn" in state:
                arns[lid] = state["arn"]
            if isinstance(res, ScalingPolicy):
                arns[lid] = ctx.outputs[f"policy:{res.purpose}"]
    return current, arns


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["service", "batch-rules", "alarms-peaks"])
def test_template_and_apply_set_the_same_attributes(
    variant: str, cli: Cli, aws: Clients, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [*cli.network.overrides(), *VARIANTS[variant]]
    built = json.loads(_template(capsys, *args))
    assert cli("apply", *VARIANTS[variant]).code == 0

    stack = load_stack(EXAMPLE, [a for a in args if a != "--set"])
    current, refs = asyncio.run(_read_back(stack, cli.url))
    td = aws.ecs.describe_task_definition(taskDefinition=f"{stack.name}-worker")
    refs["ImageUri"] = td["taskDefinition"]["containerDefinitions"][0]["image"]
    refs["Subnets"] = sorted(stack.network.subnets)
    refs["SecurityGroups"] = sorted(stack.network.security_groups)
    compared = 0
    for lid, body in built["Resources"].items():
        if body["Type"] == "AWS::SQS::QueuePolicy":
            res, state = current[lid.removesuffix("Policy")]
            policy = _concrete(body["Properties"]["PolicyDocument"], refs)
            assert policy == iam.canonical(state["policy"])
            continue
        res, state = current[lid]
        assert state is not None, f"{lid} is in the template but apply did not create it"
        desired = res.desired()
        assert desired is not None
        # Fields moto does not report back are compared as apply compares them: not at all.
        for field in res.unreported:
            if "." not in field and field not in state:
                state[field] = desired[field]
        _, properties, _ = template._KINDS[type(res)]
        refs.setdefault(lid, lid)
        from_aws = _concrete(template._resolve(properties(res, state), {}), refs)
        assert _concrete(body["Properties"], refs) == from_aws, lid
        compared += 1
    # Scheduled actions are properties of the scalable target in CloudFormation.
    in_template = [
        action
        for body in built["Resources"].values()
        for action in body["Properties"].get("ScheduledActions", [])
    ]
    peaks = [(res, state) for res, state in current.values() if isinstance(res, ScheduledAction)]
    for res, state in peaks:
        request = res.request(state)
        keys = ("ScheduledActionName", "Schedule", "Timezone", "ScalableTargetAction")
        assert {k: request[k] for k in keys} in in_template
    declared = [lid for lid, (_, state) in current.items() if state is not None]
    assert compared + len(peaks) == len(declared)
    assert len(in_template) == len(peaks)
