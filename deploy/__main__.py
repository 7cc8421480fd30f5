"""Command line: ``python -m deploy {size,plan,apply,destroy,image} --stack FILE``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.markup import escape

from deploy import engine, image, render
from deploy.aws import Aws
from deploy.errors import DeployError
from deploy.resources.base import Step
from deploy.resources.ecr import Repository
from deploy.sizing import size_stack
from deploy.stack import Stack, load_stack
from deploy.waiter import ServiceStatus, wait_stable


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deploy", description="Size, plan, apply and destroy an sfn-fleet stack."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str, aws: bool = True, json_flag: bool = True) -> Any:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--stack", required=True, metavar="FILE", help="the stack TOML file")
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

    command("size", "Size the fleet: tasks, CPU/memory, pollers, API rates, cost.", aws=False)
    plan = command("plan", "Show what apply would change; makes no mutating call.")
    plan.add_argument("--destroy", action="store_true", help="show what destroy would delete")
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when there are changes, 0 when there are none",
    )
    apply = command("apply", "Create or update every resource, then wait for the service.")
    apply.add_argument("--no-wait", action="store_true", help="do not wait for the service")
    apply.add_argument(
        "--wait-timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="how long to wait for the service to be stable (default 600)",
    )
    apply.add_argument(
        "--poll-interval",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="seconds between reads of the service while waiting (default 10)",
    )
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
    img.add_argument("--builder", choices=image.BUILDERS, help="default: the first one on PATH")
    img.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    return parser


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def _cmd_size(stack: Stack, args: argparse.Namespace, out: Console) -> int:
    sizing = size_stack(stack)
    if args.json:
        _print_json(sizing.to_json())
    else:
        render.sizing_tables(sizing, out)
    return 1 if sizing.errors else 0


async def _cmd_plan(stack: Stack, args: argparse.Namespace, out: Console) -> int:
    async with Aws(stack.region, args.endpoint_url, args.profile) as aws:
        ctx = await engine.open_context(stack, aws, destroying=args.destroy)
        warnings = [] if args.destroy else await engine.preflight(ctx)
        steps = await engine.plan(ctx)
    changed = any(s.action in ("create", "update", "delete") for s in steps)
    if args.json:
        _print_json(
            {"stack": stack.name, "steps": [s.to_json() for s in steps], "warnings": warnings}
        )
    else:
        _warn(warnings, out)
        what = "destroy" if args.destroy else "apply"
        out.print(render.plan_table(steps, f"{what} plan for stack '{stack.name}'"))
        out.print(render.summary(steps))
        if not args.destroy:
            out.print(escape(render.heartbeat_ceiling(ctx.sizing)))
        for step in steps:
            if step.action == "conflict":
                text = escape(f"{step.kind} '{step.name}': {step.note}")
                out.print(f"[bold red]conflict[/] {text}")
    if any(s.action == "conflict" for s in steps):
        return 1
    return 2 if args.detailed_exitcode and changed else 0


def _warn(warnings: list[str], console: Console) -> None:
    for warning in warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")


def _reporter(args: argparse.Namespace, out: Console) -> Any:
    def report(step: Step) -> None:
        if not args.json and step.action in ("create", "update", "delete"):
            out.print(render.step_line(step))

    return report


async def _cmd_apply(stack: Stack, args: argparse.Namespace, out: Console, err: Console) -> int:
    async with Aws(stack.region, args.endpoint_url, args.profile) as aws:
        ctx = await engine.open_context(stack, aws, poll_seconds=args.poll_interval)
        warnings = await engine.preflight(ctx)
        if not args.json:
            _warn(warnings, err)
        steps = await engine.apply(ctx, _reporter(args, out))
        status: ServiceStatus | None = None
        if stack.mode == "service" and not args.no_wait:
            label = f"waiting for ECS service '{ctx.names.service}'"
            with err.status(f"{label} to be stable") as spinner:

                def progress(s: ServiceStatus) -> None:
                    spinner.update(f"{label}: {s.describe()} ({s.elapsed:.0f} s)")

                status = await wait_stable(
                    aws,
                    ctx.names.cluster,
                    ctx.names.service,
                    timeout=args.wait_timeout,
                    interval=args.poll_interval,
                    progress=progress,
                )
    if args.json:
        _print_json(
            {
                "stack": stack.name,
                "steps": [s.to_json() for s in steps],
                "service": None if status is None else status.describe(),
            }
        )
    else:
        out.print(f"apply complete: {render.done_summary(steps)}")
        if status is not None:
            out.print(f"service stable: {status.describe()}")
    return 0


async def _destroy_plan(stack: Stack, args: argparse.Namespace) -> list[Step]:
    async with Aws(stack.region, args.endpoint_url, args.profile) as aws:
        ctx = await engine.open_context(stack, aws, destroying=True)
        return await engine.plan(ctx)


async def _destroy(stack: Stack, args: argparse.Namespace, out: Console) -> list[Step]:
    async with Aws(stack.region, args.endpoint_url, args.profile) as aws:
        ctx = await engine.open_context(
            stack, aws, destroying=True, poll_seconds=args.poll_interval
        )
        return await engine.destroy(ctx, _reporter(args, out))


def _cmd_destroy(stack: Stack, args: argparse.Namespace, out: Console) -> int:
    if not args.yes:
        steps = asyncio.run(_destroy_plan(stack, args))
        if not any(s.action == "delete" for s in steps):
            out.print(f"nothing to destroy for stack '{stack.name}'")
            return 0
        out.print(render.plan_table(steps, f"destroy plan for stack '{stack.name}'"))
        if not sys.stdin.isatty():
            raise DeployError("destroy deletes the resources above: re-run with --yes")
        answer = input(f"Type the stack name ({stack.name}) to delete them: ")
        if answer.strip() != stack.name:
            out.print("not confirmed; nothing deleted")
            return 1
    steps = asyncio.run(_destroy(stack, args, out))
    if args.json:
        _print_json({"stack": stack.name, "steps": [s.to_json() for s in steps]})
    else:
        deleted = sum(1 for s in steps if s.action == "delete")
        out.print(f"destroy complete: {deleted} deleted")
    return 0


async def _cmd_image(stack: Stack, args: argparse.Namespace, out: Console) -> int:
    builder = args.builder or image.find_builder()
    tag = stack.image.tag
    async with Aws(stack.region, args.endpoint_url, args.profile) as aws:
        ctx = await engine.open_context(stack, aws)
        if args.dry_run:
            commands = image.commands(stack, ctx.names, builder, tag, password=None)
            if args.json:
                _print_json({"commands": [c.display() for c in commands]})
            else:
                for command in commands:
                    # One command a line, never wrapped: these are meant to be copied.
                    out.print(command.display(), markup=False, highlight=False, soft_wrap=True)
            return 0
        # The repository must exist before the push; ensure just that resource.
        step = await engine.ensure(Repository(ctx, ctx.names.repository))
        if step.action != "unchanged" and not args.json:
            out.print(render.step_line(step))
        password = await image.ecr_password(aws)
        commands = image.commands(stack, ctx.names, builder, tag, password)
    for command in commands:
        if not args.json:
            out.print(f"$ {command.display()}", markup=False, highlight=False, soft_wrap=True)
        image.run(command)
    if args.json:
        _print_json({"image": f"{ctx.names.repository_uri}:{tag}"})
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 error, 2 plan has changes)."""
    args = _parser().parse_args(argv)
    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    try:
        stack = load_stack(args.stack, args.set)
        if args.command == "size":
            return _cmd_size(stack, args, out)
        if args.command == "plan":
            return asyncio.run(_cmd_plan(stack, args, out))
        if args.command == "apply":
            return asyncio.run(_cmd_apply(stack, args, out, err))
        if args.command == "destroy":
            return _cmd_destroy(stack, args, out)
        return asyncio.run(_cmd_image(stack, args, out))
    except DeployError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        return 1
    except (ClientError, BotoCoreError) as exc:
        # A call outside any one resource's step (a listing, the service waiter).
        err.print(f"[bold red]error:[/] AWS call failed: {escape(str(exc))}", soft_wrap=True)
        return 1
    except KeyboardInterrupt:
        err.print("interrupted; run the command again to continue")
        return 130


if __name__ == "__main__":
    sys.exit(main())
