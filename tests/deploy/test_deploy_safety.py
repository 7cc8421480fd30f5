"""apply asks before it deletes, applies saved plans exactly, and holds a lock per stack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from deploy_support import ACCOUNT, REGION, Cli, Clients
from test_deploy_release import REPOSITORY, push, running

STACK = "hello-world"
BATCH = [
    "--set",
    'mode="batch"',
    "--set",
    "sizing.tasks_per_run=100",
    "--set",
    "sizing.deadline_seconds=3600",
]


def test_a_destructive_apply_refuses_without_yes(cli: Cli, aws: Clients) -> None:
    assert cli("apply").code == 0
    refused = cli("apply", *BATCH)
    assert refused.code == 1
    assert "error: apply would delete ECS service 'hello-world' (a switch" in refused.err
    assert "re-run with --yes" in refused.err
    assert "Traceback" not in refused.err
    # Nothing changed: the service still runs, no schedule runs workers.
    service = aws.ecs.describe_services(cluster=STACK, services=[STACK])["services"][0]
    assert service["status"] == "ACTIVE"
    assert [s["Name"] for s in aws.scheduler.list_schedules(GroupName=STACK)["Schedules"]] == [
        "hourly"
    ]

    done = cli("apply", "--yes", *BATCH)
    assert done.code == 0, done.err
    assert "deleted" in done.out
    services = aws.ecs.describe_services(cluster=STACK, services=[STACK])["services"]
    assert [s["status"] for s in services if s["status"] == "ACTIVE"] == []

    # And back: the schedules that run worker tasks would go.
    back = cli("apply")
    assert back.code == 1
    assert "delete schedule 'hourly-workers' (a switch to service mode" in back.err


def test_a_saved_plan_applies_exactly_what_it_showed(
    cli: Cli, aws: Clients, tmp_path: Path
) -> None:
    first = push(aws, "v1")
    saved = tmp_path / "release.plan"
    plan = cli("plan", "--set", 'image.tag="v1"', "--out", str(saved))
    assert plan.code == 0, plan.err
    assert f"apply it with `sfn-fleet-deploy apply --plan {saved}`" in plan.out

    # After the plan: a newer image is pushed and the stack file's inputs change.
    push(aws, "v2")
    result = cli("apply", "--plan", str(saved), "--json", "--set", "x=1")
    assert result.code == 1
    assert "--plan applies the saved stack: leave out --stack and --set" in result.err

    result = cli.run_bare(
        "apply", "--plan", str(saved), "--json", "--wait-timeout", "5", "--poll-interval", "0.05"
    )
    assert result.code == 0, result.err
    # Exactly the planned image, not the newer one.
    assert running(aws)["image"] == f"{REPOSITORY}@{first}"

    # A second apply of the same plan finds the world moved on: it refuses.
    stale = cli.run_bare("apply", "--plan", str(saved))
    assert stale.code == 1
    assert "what is deployed changed since the plan was saved; plan again" in stale.err
    assert "ECS cluster 'hello-world': planned create, now unchanged" in stale.err


@pytest.mark.slow
def test_a_saved_plan_is_refused_when_the_account_moved_on(
    cli: Cli, aws: Clients, tmp_path: Path
) -> None:
    push(aws, "v1")
    assert cli("apply", "--set", 'image.tag="v1"').code == 0
    saved = tmp_path / "retention.plan"
    assert (
        cli(
            "plan", "--set", 'image.tag="v1"', "--set", "log_retention_days=7", "--out", str(saved)
        ).code
        == 0
    )
    # Someone changes the retention by hand after the plan was made.
    aws.logs.put_retention_policy(logGroupName=f"/sfn-fleet/{STACK}", retentionInDays=14)
    stale = cli.run_bare("apply", "--plan", str(saved))
    assert stale.code == 1
    assert "log group '/sfn-fleet/hello-world': planned update, now update" in stale.err
    group = aws.logs.describe_log_groups(logGroupNamePrefix=f"/sfn-fleet/{STACK}")["logGroups"][0]
    assert group["retentionInDays"] == 14

    bad = tmp_path / "not-a-plan.json"
    bad.write_text(json.dumps({"hello": 1}))
    assert "is not a saved plan" in cli.run_bare("apply", "--plan", str(bad)).err


def test_a_held_lock_stops_a_second_apply_until_unlocked(cli: Cli, aws: Clients) -> None:
    # Another apply is running: it holds the stack's lock.
    holder = {"command": "apply", "holder": "ci@runner pid 7", "since": "2026-01-01T00:00:00+00:00"}
    aws.ssm.put_parameter(Name=f"/sfn-fleet/{STACK}/lock", Value=json.dumps(holder), Type="String")
    blocked = cli("apply")
    assert blocked.code == 1
    assert "stack 'hello-world' is locked by `apply` (ci@runner pid 7" in blocked.err
    assert aws.ecs.list_clusters()["clusterArns"] == []  # nothing was changed

    unlocked = cli("unlock")
    assert unlocked.code == 0
    assert "removed the lock of `apply` (ci@runner pid 7)" in unlocked.out
    assert cli("apply").code == 0
    # The lock is released after the apply.
    assert aws.ssm.describe_parameters()["Parameters"] == []
    assert cli("unlock").out.strip() == "stack 'hello-world' is not locked"


def test_arns_take_the_partition_of_the_region() -> None:
    from deploy_support import EXAMPLE

    from deploy import iam
    from deploy.names import Names
    from deploy.stack import load_stack

    for region, expected in (("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")):
        stack = load_stack(EXAMPLE, [f'region="{region}"', 'image.tag="v1"'])
        names = Names(stack, ACCOUNT)
        assert names.state_machine_arn.startswith(f"arn:{expected}:states:{region}:")
        assert names.role_arn("task").startswith(f"arn:{expected}:iam::")
        resources = [r for s in iam.task_policy(names)["Statement"] for r in s["Resource"]]
        assert all(r.startswith(f"arn:{expected}:") for r in resources), resources
    assert Names(load_stack(EXAMPLE), ACCOUNT).state_machine_arn.startswith(
        f"arn:aws:states:{REGION}:"
    )
    assert Names(load_stack(EXAMPLE, ['region="cn-north-1"']), ACCOUNT).repository_uri.endswith(
        ".amazonaws.com.cn/hello-world"
    )


class _Terminal:
    """stdin as a terminal: apply may ask."""

    def isatty(self) -> bool:
        return True


def test_on_a_terminal_apply_asks_before_deleting(
    cli: Cli, aws: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("apply").code == 0
    answers = iter(["no", "yes"])
    prompts: list[str] = []

    def answer(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("sys.stdin", _Terminal())
    monkeypatch.setattr("builtins.input", answer)
    declined = cli("apply", *BATCH)
    assert declined.code == 1
    assert "not confirmed; nothing changed" in declined.err
    assert "delete ECS service 'hello-world'" in prompts[0]
    assert "apply plan for stack 'hello-world'" in declined.out  # the plan was shown first
    assert (
        aws.ecs.describe_services(cluster=STACK, services=[STACK])["services"][0]["status"]
        == "ACTIVE"
    )

    accepted = cli("apply", *BATCH)
    assert accepted.code == 0, accepted.err
    assert len(prompts) == 2
