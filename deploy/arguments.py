"""The command line's arguments: every verb and its options, in one place."""

from __future__ import annotations

import argparse
from typing import Any

from deploy import image


def parser(prog: str) -> argparse.ArgumentParser:
    """The command line: one subcommand per verb, each with its options."""
    root = argparse.ArgumentParser(
        prog=prog,
        description="Size, plan, apply, ship, roll back and destroy an sfn-fleet stack.",
    )
    sub = root.add_subparsers(dest="command", required=True)

    def command(
        name: str, help_text: str, aws: bool = True, json_flag: bool = True, stack: bool = True
    ) -> Any:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--stack", required=stack, metavar="FILE", help="the stack TOML file")
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a stack field, e.g. sizing.arrival_rate_per_second=50 (repeatable)",
        )
        if aws:
            p.add_argument("--endpoint-url", help="send every AWS call here (tests, moto)")
            p.add_argument("--profile", help="AWS named profile")
        if json_flag:
            p.add_argument("--json", action="store_true", help="print JSON only")
        return p

    def waiting(p: Any) -> None:
        p.add_argument("--no-wait", action="store_true", help="do not wait for the service")
        p.add_argument(
            "--wait-timeout",
            type=float,
            default=600.0,
            metavar="SECONDS",
            help="how long to wait for the service to be stable (default 600)",
        )
        p.add_argument(
            "--poll-interval",
            type=float,
            default=10.0,
            metavar="SECONDS",
            help="seconds between reads of the service while waiting (default 10)",
        )

    def building(p: Any) -> None:
        p.add_argument("--builder", choices=image.BUILDERS, help="default: the first one on PATH")

    command("size", "Size the fleet: tasks, CPU/memory, pollers, API rates, cost.", aws=False)
    plan = command("plan", "Show what apply would change; makes no mutating call.")
    plan.add_argument("--destroy", action="store_true", help="show what destroy would delete")
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when there are changes, 0 when there are none",
    )
    plan.add_argument("--out", metavar="FILE", help="save the plan for `apply --plan FILE`")
    apply = command(
        "apply", "Create or update every resource, then wait for the service.", stack=False
    )
    apply.add_argument(
        "--yes", action="store_true", help="apply deletes and mode switches without asking"
    )
    apply.add_argument("--plan", metavar="FILE", help="apply a plan saved by `plan --out FILE`")
    waiting(apply)
    ship = command("ship", "Build and push the image, apply the stack, wait for the rollout.")
    building(ship)
    ship.add_argument(
        "--yes", action="store_true", help="apply deletes and mode switches without asking"
    )
    waiting(ship)
    command("status", "Show the service: deployments, running/desired/pending, latest events.")
    redeploy = command("redeploy", "Start a new deployment of the running task definition.")
    waiting(redeploy)
    rollback = command("rollback", "Run the previous task definition revision again.")
    rollback.add_argument("--to", type=int, metavar="REVISION", help="this revision instead")
    rollback.add_argument(
        "--keep-revision",
        action="store_true",
        help="do not deregister the revision rolled back from",
    )
    waiting(rollback)
    destroy = command("destroy", "Delete what the stack created, in reverse order.")
    destroy.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    destroy.add_argument(
        "--poll-interval",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="seconds between reads while the deleted service drains (default 10)",
    )
    img = command("image", "Build the worker image and push it to the stack's ECR repository.")
    building(img)
    img.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    command("unlock", "Remove the stack's lock left by a command that died.", json_flag=False)
    template = command(
        "template",
        "Write the stack as a CloudFormation template (offline).",
        aws=False,
        json_flag=False,
    )
    template.add_argument("--format", choices=("json", "yaml"), default="json")
    return root
