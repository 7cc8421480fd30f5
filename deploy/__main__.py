"""Command line: ``sfn-fleet-deploy COMMAND --stack FILE`` (also ``python -m deploy``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.markup import escape

from deploy import bill, engine, image, lock, planfile, release, render, template
from deploy.arguments import parser
from deploy.aws import Aws
from deploy.errors import DeployError
from deploy.names import Names
from deploy.resources.base import Context, Step
from deploy.resources.ecr import Repository
from deploy.sizing import size_stack
from deploy.stack import ImageSpec, Stack, load_stack
from deploy.waiter import ServiceStatus, wait_stable

PROG = "sfn-fleet-deploy"


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


def _aws(stack: Stack, args: argparse.Namespace) -> Aws:
    return Aws(stack.region, args.endpoint_url, args.profile)


def _cmd_size(stack: Stack, args: argparse.Namespace, out: Console) -> int:
    sizing = size_stack(stack)
    whole = bill.whole_bill(stack, sizing)
    if args.json:
        _print_json({**sizing.to_json(), "bill": whole.to_json()})
    else:
        render.sizing_tables(sizing, out)
        bill.render(whole, sizing, out)
    return 1 if sizing.errors else 0


async def _cmd_plan(stack: Stack, args: argparse.Namespace, out: Console) -> int:
    async with _aws(stack, args) as aws:
        ctx = await engine.open_context(stack, aws, destroying=args.destroy)
        warnings = [] if args.destroy else await engine.preflight(ctx)
        steps = await engine.plan(ctx)
    if args.out:
        if args.destroy:
            raise DeployError("--out saves apply plans; destroy asks before it deletes anyway")
        planfile.save(Path(args.out), ctx, steps)
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
        _print_conflicts(steps, out)
        if args.out:
            out.print(
                f"plan saved to {args.out}: apply it with `{PROG} apply --plan {args.out}`",
                soft_wrap=True,
            )
    if any(s.action == "conflict" for s in steps):
        return 1
    return 2 if args.detailed_exitcode and changed else 0


def _print_conflicts(steps: list[Step], out: Console) -> None:
    for step in steps:
        if step.action == "conflict":
            text = escape(f"{step.kind} '{step.name}': {step.note}")
            out.print(f"[bold red]conflict[/] {text}")


def _warn(warnings: list[str], console: Console) -> None:
    for warning in warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")


def _reporter(args: argparse.Namespace, out: Console) -> Any:
    def report(step: Step) -> None:
        if not args.json and step.action in ("create", "update", "delete"):
            out.print(render.step_line(step))

    return report


def _changes(steps: list[Step]) -> bool:
    return any(s.action in ("create", "update", "delete") for s in steps)


def _check_saved(saved: planfile.SavedPlan, planned: list[Step]) -> None:
    changed = planfile.differences(saved.steps, planned)
    if changed:
        body = "\n".join(f"  {line}" for line in changed)
        raise DeployError(f"what is deployed changed since the plan was saved; plan again:\n{body}")


def _confirm(
    ctx: Context, steps: list[Step], args: argparse.Namespace, out: Console, saved: bool
) -> None:
    """Ask before a delete or a mode switch; raises DeployError if not confirmed.

    A saved plan was reviewed when it was made: applying it is the confirmation.
    """
    risky = render.destructive(steps)
    if not risky or args.yes or saved:
        return
    what = "; ".join(risky)
    if args.json or not sys.stdin.isatty():
        raise DeployError(
            f"apply would {what}: review it with `{PROG} plan`, then re-run with --yes"
        )
    out.print(render.plan_table(steps, f"apply plan for stack '{ctx.stack.name}'"))
    answer = input(f"apply would {what}. Type yes to go on: ")
    if answer.strip().lower() != "yes":
        raise DeployError("not confirmed; nothing changed")


async def _wait(
    aws: Aws, names: Names, args: argparse.Namespace, err: Console
) -> ServiceStatus | None:
    if names.stack.mode != "service" or args.no_wait:
        return None
    label = f"waiting for ECS service '{names.service}'"
    with err.status(f"{label} to be stable") as spinner:

        def progress(s: ServiceStatus) -> None:
            spinner.update(f"{label}: {s.describe()} ({s.elapsed:.0f} s)")

        return await wait_stable(
            aws,
            names.cluster,
            names.service,
            timeout=args.wait_timeout,
            interval=args.poll_interval,
            progress=progress,
        )


async def _apply(
    stack: Stack,
    args: argparse.Namespace,
    out: Console,
    err: Console,
    saved: planfile.SavedPlan | None = None,
) -> int:
    async with _aws(stack, args) as aws:
        if saved is not None:
            ctx = await engine.open_context(
                stack,
                aws,
                poll_seconds=args.poll_interval,
                definition=saved.definition,
                image=saved.image,
            )
            if ctx.names.account != saved.account:
                raise DeployError(
                    f"the plan was saved for account {saved.account}, the credentials are "
                    f"for {ctx.names.account}"
                )
        else:
            ctx = await engine.open_context(stack, aws, poll_seconds=args.poll_interval)
        warnings = await engine.preflight(ctx)
        if not args.json:
            _warn(warnings, err)
        planned = await engine.plan(ctx)
        if saved is not None:
            _check_saved(saved, planned)
        if saved is None and not _changes(planned):
            # Nothing to change: no lock, no mutating call; apply only waits for the service.
            steps = await engine.apply(ctx, _reporter(args, out))
            status = await _wait(aws, ctx.names, args, err)
        else:
            engine.check_conflicts(ctx, planned)
            _confirm(ctx, planned, args, out, saved is not None)
            async with lock.locked(aws, stack.name, "apply"):
                # Read again under the lock: what was confirmed must still be the plan.
                again = await engine.plan(ctx)
                if saved is not None:
                    _check_saved(saved, again)
                elif render.destructive(again) != render.destructive(planned) and not args.yes:
                    raise DeployError("the plan changed while apply waited; run apply again")
                steps = await engine.apply(ctx, _reporter(args, out))
                status = await _wait(aws, ctx.names, args, err)
    if args.json:
        _print_json(
            {
                "stack": stack.name,
                "image": ctx.image,
                "steps": [s.to_json() for s in steps],
                "service": None if status is None else status.describe(),
            }
        )
    else:
        out.print(f"apply complete: {render.done_summary(steps)}")
        if status is not None:
            out.print(f"service stable: {status.describe()}")
    return 0


async def _cmd_apply(args: argparse.Namespace, out: Console, err: Console) -> int:
    if args.plan:
        if args.stack or args.set:
            raise DeployError("--plan applies the saved stack: leave out --stack and --set")
        saved = planfile.load(Path(args.plan))
        return await _apply(saved.stack, args, out, err, saved)
    if not args.stack:
        raise DeployError("apply needs --stack FILE (or --plan FILE)")
    return await _apply(load_stack(args.stack, args.set), args, out, err)


async def _destroy_plan(stack: Stack, args: argparse.Namespace) -> list[Step]:
    async with _aws(stack, args) as aws:
        ctx = await engine.open_context(stack, aws, destroying=True)
        return await engine.plan(ctx)


async def _destroy(stack: Stack, args: argparse.Namespace, out: Console) -> list[Step]:
    async with _aws(stack, args) as aws:
        ctx = await engine.open_context(
            stack, aws, destroying=True, poll_seconds=args.poll_interval
        )
        async with lock.locked(aws, stack.name, "destroy"):
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


async def _build_and_push(stack: Stack, args: argparse.Namespace, out: Console) -> str:
    """Run the image commands (or print them with --dry-run); returns the image reference."""
    builder = args.builder or image.find_builder()
    tag = image.image_tag(stack)
    async with _aws(stack, args) as aws:
        ctx = await engine.open_context(stack, aws, resolve=False)
        if getattr(args, "dry_run", False):
            commands = image.commands(stack, ctx.names, builder, tag, password=None)
            if args.json:
                _print_json({"commands": [c.display() for c in commands]})
            else:
                for command in commands:
                    # One command a line, never wrapped: these are meant to be copied.
                    out.print(command.display(), markup=False, highlight=False, soft_wrap=True)
            return ctx.names.image_ref(tag)
        # The repository must exist before the push; ensure just that resource.
        step = await engine.ensure(Repository(ctx, ctx.names.repository))
        if step.action != "unchanged" and not args.json:
            out.print(render.step_line(step))
        password = await image.ecr_password(aws)
        commands = image.commands(stack, ctx.names, builder, tag, password)
    if image.git_dirty(stack.base_dir) and not stack.image.tag:
        Console(stderr=True).print(
            f"[yellow]warning:[/] the checkout has uncommitted changes; tag {tag} names the "
            "commit, not them"
        )
    for command in commands:
        if not args.json:
            out.print(f"$ {command.display()}", markup=False, highlight=False, soft_wrap=True)
        image.run(command)
    return ctx.names.image_ref(tag)


async def _cmd_image(stack: Stack, args: argparse.Namespace, out: Console) -> int:
    reference = await _build_and_push(stack, args, out)
    if args.json and not args.dry_run:
        _print_json({"image": reference})
    return 0


async def _cmd_ship(stack: Stack, args: argparse.Namespace, out: Console, err: Console) -> int:
    if stack.image.uri:
        raise DeployError(
            f"image.uri is set ({stack.image.uri}): ship builds the stack's own image; "
            "use apply to deploy an image from elsewhere"
        )
    # One tag for both halves, even if the checkout moves while the image builds.
    tag = image.image_tag(stack)
    stack = stack.model_copy(update={"image": stack.image.model_copy(update={"tag": tag})})
    assert isinstance(stack.image, ImageSpec)
    await _build_and_push(stack, args, out)
    return await _apply(stack, args, out, err)


async def _cmd_status(stack: Stack, args: argparse.Namespace, out: Console) -> int:
    async with _aws(stack, args) as aws:
        found = await release.status(aws, Names(stack, await aws.account()))
    if args.json:
        _print_json(found.to_json())
    else:
        render.status(found, out)
    return 0


async def _cmd_release(stack: Stack, args: argparse.Namespace, out: Console, err: Console) -> int:
    async with _aws(stack, args) as aws:
        names = Names(stack.model_copy(update={"mode": "service"}), await aws.account())
        async with lock.locked(aws, stack.name, args.command):
            if args.command == "redeploy":
                arn = await release.redeploy(aws, names)
                message = f"new deployment of {arn.rsplit('/', 1)[-1]} started"
            else:
                old, new = await release.rollback(
                    aws, names, to=args.to, deregister=not args.keep_revision
                )
                message = f"rolling back from {old.rsplit('/', 1)[-1]} to {new.rsplit('/', 1)[-1]}"
            if not args.json:
                out.print(message)
            status = await _wait(aws, names, args, err)
    if args.json:
        _print_json({"message": message, "service": status and status.describe()})
    elif status is not None:
        out.print(f"service stable: {status.describe()}")
    return 0


async def _cmd_unlock(stack: Stack, args: argparse.Namespace, out: Console) -> int:
    async with _aws(stack, args) as aws:
        found = await lock.unlock(aws, stack.name)
    if found is None:
        out.print(f"stack '{stack.name}' is not locked")
    else:
        out.print(f"removed the lock of `{found.get('command', '?')}` ({found.get('holder')})")
    return 0


def _run(args: argparse.Namespace, out: Console, err: Console) -> int:
    if args.command == "apply":
        return asyncio.run(_cmd_apply(args, out, err))
    stack = load_stack(args.stack, args.set)
    if args.command == "size":
        return _cmd_size(stack, args, out)
    if args.command == "destroy":
        return _cmd_destroy(stack, args, out)
    if args.command == "template":
        # Plain stdout: the text is meant for a file or a pipeline, not for a terminal.
        sys.stdout.write(template.dumps(asyncio.run(template.build(stack)), args.format))
        return 0
    commands: dict[str, Any] = {
        "plan": lambda: _cmd_plan(stack, args, out),
        "ship": lambda: _cmd_ship(stack, args, out, err),
        "status": lambda: _cmd_status(stack, args, out),
        "redeploy": lambda: _cmd_release(stack, args, out, err),
        "rollback": lambda: _cmd_release(stack, args, out, err),
        "image": lambda: _cmd_image(stack, args, out),
        "unlock": lambda: _cmd_unlock(stack, args, out),
    }
    return int(asyncio.run(commands[args.command]()))


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 1 error, 2 plan has changes)."""
    args = parser(PROG).parse_args(argv)
    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    try:
        return _run(args, out, err)
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
