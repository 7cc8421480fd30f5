"""plan, apply and destroy: read every resource, diff, and act in dependency order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from deploy import asl, image
from deploy.aws import Aws, error_code, error_message
from deploy.errors import ConflictError, DeployError, PreflightError, ResourceError
from deploy.names import Names
from deploy.resources import resources
from deploy.resources.base import Context, Resource, State, Step, diff
from deploy.sizing import size_stack
from deploy.stack import STACK_TAG, Stack

Report = Callable[[Step], None]


async def open_context(
    stack: Stack,
    aws: Aws,
    *,
    destroying: bool = False,
    poll_seconds: float = 10.0,
    definition: dict[str, Any] | None = None,
    image: str | None = None,
    resolve: bool = True,
) -> Context:
    """Look up the account and build everything resources need.

    ``definition`` and ``image`` replace the generated state machine and the image lookup
    (a saved plan carries both); without ``resolve`` neither is looked at (the ``image``
    command needs names only). Raises PreflightError for a state machine file that fails its
    lint, and DeployError when there are no usable credentials.
    """
    account = await aws.account()
    names = Names(stack, account)
    resolve = resolve and not destroying
    if definition is None:
        definition = asl.load_definition(stack, account) if resolve else {}
    ctx = Context(
        stack=stack,
        sizing=size_stack(stack),
        names=names,
        aws=aws,
        definition=definition,
        destroying=destroying,
        poll_seconds=poll_seconds,
    )
    if image is not None:
        ctx.image = image
    elif resolve:
        ctx.image, ctx.image_warnings = await resolve_image(stack, names, aws)
    return ctx


async def resolve_image(stack: Stack, names: Names, aws: Aws) -> tuple[str, list[str]]:
    """The image reference for the task definition, pinned by digest where ECR has it.

    Returns the reference and warnings (an image not pushed yet is run by tag, and tasks
    cannot start until it is pushed).
    """
    uri = stack.image.uri
    if uri:
        ecr = image.parse_ecr_uri(uri)
        if ecr is None or ecr.digest or ecr.tag is None or ecr.region != stack.region:
            return uri, []
        try:
            digest = await image.image_digest(aws, ecr.repository, ecr.tag, ecr.account)
        except ClientError as exc:
            # Another account's registry may not let the deployer read it; tasks may still
            # pull it with the execution role.
            return uri, [f"cannot read {uri} in ECR ({error_code(exc)}); it runs by tag"]
        if digest is None:
            return uri, [f"image {uri} is not in ECR, so worker tasks cannot start"]
        return f"{uri.rsplit(':', 1)[0]}@{digest}", []
    tag = image.image_tag(stack)
    digest = await image.image_digest(aws, names.repository, tag)
    if digest is None:
        return names.image_ref(tag), [
            f"image {names.image_ref(tag)} is not in the ECR repository yet, so worker tasks "
            "cannot start: run `sfn-fleet-deploy ship` (or `image`, then `apply`)"
        ]
    return f"{names.repository_uri}@{digest}", []


async def preflight(ctx: Context) -> list[str]:
    """Check what the stack refers to before any mutating call; returns warnings.

    Raises PreflightError for problems that would make apply fail.
    """
    problems = [f"sizing: {f.message}" for f in ctx.sizing.errors]
    problems += await _network_problems(ctx)
    if problems:
        body = "\n".join(f"  {p}" for p in problems)
        raise PreflightError(f"stack '{ctx.stack.name}' cannot be applied:\n{body}")
    warnings = [
        f"sizing ({f.limit}): {f.message}" for f in ctx.sizing.findings if f.severity == "warning"
    ]
    return warnings + ctx.image_warnings


async def _network_problems(ctx: Context) -> list[str]:
    ec2 = await ctx.aws.client("ec2")
    net = ctx.stack.network
    region = ctx.stack.region
    problems: list[str] = []
    vpcs: dict[str, str] = {}
    checks = [("subnets", s, "InvalidSubnetID.NotFound") for s in net.subnets]
    checks += [("security_groups", g, "InvalidGroup.NotFound") for g in net.security_groups]
    counters = {"subnets": 0, "security_groups": 0}
    for field, item, missing in checks:
        where = f"network.{field}[{counters[field]}]"
        counters[field] += 1
        try:
            if field == "subnets":
                found = (await ec2.describe_subnets(SubnetIds=[item]))["Subnets"]
            else:
                found = (await ec2.describe_security_groups(GroupIds=[item]))["SecurityGroups"]
        except ClientError as exc:
            if error_code(exc) in (
                missing,
                "InvalidSubnetID.Malformed",
                "InvalidGroupId.Malformed",
            ):
                problems.append(f"{where}: {item} does not exist in {region}")
            else:
                problems.append(
                    f"{where}: cannot check {item}: {error_code(exc)}: {error_message(exc)}"
                )
            continue
        if found:
            vpcs[f"{where} {item}"] = found[0].get("VpcId", "")
    if len(set(vpcs.values())) > 1:
        listing = ", ".join(f"{k} in {v}" for k, v in vpcs.items())
        problems.append(f"network: subnets and security groups must share one VPC ({listing})")
    return problems


def _decide(res: Resource, current: State | None) -> tuple[Step, State | None]:
    """The step for ``res`` given its current state; publishes its outputs for later ones."""
    desired = res.desired()
    step = Step(res.kind, res.name, "unchanged")
    if current is not None and not res.owned(current):
        if desired is None:
            step.action = "absent"
            step.note = f"exists without the tag {STACK_TAG}={res.ctx.stack.name}; left alone"
        else:
            step.action = "conflict"
            step.note = res.conflict_note(current) or (
                f"exists but is not tagged {STACK_TAG}={res.ctx.stack.name}: deploy will not "
                "modify what it did not create (delete it, tag it to adopt it, or rename the stack)"
            )
        return step, desired
    if desired is None:
        step.action = "delete" if current is not None else "absent"
    elif current is None:
        step.action = "create"
        step.changes = diff(None, desired)
    else:
        step.changes = res.changes(current, desired)
        step.action = "update" if step.changes else "unchanged"
    replaced = step.action == "create" or (step.action == "update" and res.replaces(step.changes))
    res.record(None if replaced else current)
    return step, desired


async def _plan_one(res: Resource) -> tuple[Step, State | None, State | None]:
    try:
        current = await res.read()
    except ClientError as exc:
        raise ResourceError(
            res.kind, res.name, "read", error_code(exc), error_message(exc)
        ) from None
    except BotoCoreError as exc:
        raise ResourceError(res.kind, res.name, "read", type(exc).__name__, str(exc)) from None
    step, desired = _decide(res, current)
    return step, current, desired


async def _act(res: Resource, step: Step, current: State | None, desired: State | None) -> None:
    try:
        if step.action == "create" and desired is not None:
            await res.create(desired)
            await res.after_create(desired)
        elif step.action == "update" and current is not None and desired is not None:
            await res.update(current, desired, step.changes)
        elif step.action == "delete" and current is not None:
            await res.delete(current)
    except ClientError as exc:
        raise ResourceError(
            res.kind, res.name, step.action, error_code(exc), error_message(exc)
        ) from None
    except BotoCoreError as exc:
        raise ResourceError(res.kind, res.name, step.action, type(exc).__name__, str(exc)) from None


async def ensure(res: Resource) -> Step:
    """Create or update one resource on its own (``image`` needs just the repository)."""
    step, current, desired = await _plan_one(res)
    if step.action == "conflict":
        raise ConflictError(f"{res.kind} '{res.name}' {step.note}")
    if step.action in ("create", "update"):
        await _act(res, step, current, desired)
    return step


async def plan(ctx: Context) -> list[Step]:
    """What apply (or, with ``ctx.destroying``, destroy) would do; reads only."""
    steps = []
    items = await resources(ctx)
    for res in reversed(items) if ctx.destroying else items:
        step, _, _ = await _plan_one(res)
        steps.append(step)
    return steps


def check_conflicts(ctx: Context, steps: list[Step]) -> None:
    """Raise ConflictError listing every resource of ``steps`` that is not the stack's."""
    conflicts = [step for step in steps if step.action == "conflict"]
    if conflicts:
        body = "\n".join(f"  {s.kind} '{s.name}': {s.note}" for s in conflicts)
        raise ConflictError(f"stack '{ctx.stack.name}' cannot be applied:\n{body}")


async def apply(ctx: Context, report: Report = lambda step: None) -> list[Step]:
    """Create and update in dependency order, then delete stale resources in reverse.

    Raises ConflictError before any change if a resource is not the stack's, and
    ResourceError naming the resource whose AWS call failed (what came before stays).
    """
    items = await resources(ctx)
    first = [await _plan_one(res) for res in items]
    check_conflicts(ctx, [step for step, _, _ in first])
    ctx.outputs.clear()
    done: list[Step] = []
    for res, (_, current, _) in zip(items, first, strict=True):
        # What exists was read above and creating earlier resources does not change it; the
        # desired state is decided again because it may use an earlier resource's new ARN.
        step, desired = _decide(res, current)
        if step.action == "delete":
            continue
        await _act(res, step, current, desired)
        done.append(step)
        report(step)
    for res, (planned, _, _) in reversed(list(zip(items, first, strict=True))):
        if planned.action != "delete":
            continue
        # Read again: deleting one resource can take another with it (a schedule group its
        # schedules).
        step, current, desired = await _plan_one(res)
        await _act(res, step, current, desired)
        done.append(step)
        report(step)
    return done


async def destroy(ctx: Context, report: Report = lambda step: None) -> list[Step]:
    """Delete what the stack created, in reverse dependency order, and nothing else."""
    if not ctx.destroying:
        raise DeployError("destroy needs a context opened with destroying=True")
    done: list[Step] = []
    for res in reversed(await resources(ctx)):
        step, current, desired = await _plan_one(res)
        await _act(res, step, current, desired)
        if step.action != "absent" or step.note:
            done.append(step)
            report(step)
    return done
