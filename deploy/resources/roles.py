"""IAM roles: task execution, task, state machine and schedule, each with one inline policy."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from deploy import iam
from deploy.aws import absent_on
from deploy.resources.base import Change, Context, Resource, State, tag_dict, tag_list, top_fields
from deploy.resources.tagging import sync_tags

INLINE_POLICY = "sfn-fleet"

# purpose -> (service principal, description)
PURPOSES: dict[str, tuple[str, str]] = {
    "execution": ("ecs-tasks.amazonaws.com", "ECS pulls the worker image and writes logs"),
    "task": ("ecs-tasks.amazonaws.com", "the worker polls and reports its activities"),
    "states": ("states.amazonaws.com", "the state machine writes its execution logs"),
    "schedule": ("", "schedules start the state machine and batch workers"),
}


class Role(Resource):
    """One of the stack's IAM roles."""

    kind = "IAM role"

    def __init__(self, ctx: Context, purpose: str) -> None:
        super().__init__(ctx, ctx.names.role(purpose))
        self.purpose = purpose

    async def read(self) -> State | None:
        client = await self.aws.client("iam")
        found = await absent_on(("NoSuchEntity",), client.get_role(RoleName=self.name))
        if found is None:
            return None
        role = found["Role"]
        policy = await absent_on(
            ("NoSuchEntity",), client.get_role_policy(RoleName=self.name, PolicyName=INLINE_POLICY)
        )
        document = _document(policy["PolicyDocument"]) if policy else None
        inline = (await client.list_role_policies(RoleName=self.name))["PolicyNames"]
        attached = await client.list_attached_role_policies(RoleName=self.name)
        return {
            "trustPolicy": iam.canonical(_document(role["AssumeRolePolicyDocument"])),
            "policy": iam.canonical(document),
            # Drift: policies put or attached by hand show here, and apply removes them.
            "inlinePolicies": sorted(inline),
            "managedPolicies": sorted(p["PolicyArn"] for p in attached["AttachedPolicies"]),
            "permissionsBoundary": role.get("PermissionsBoundary", {}).get(
                "PermissionsBoundaryArn"
            ),
            "tags": tag_dict(role.get("Tags"), "Key", "Value"),
        }

    def _trust(self) -> iam.Policy:
        """Who may assume the role: one service, for the stack's own resources only."""
        names = self.names
        service = PURPOSES[self.purpose][0]
        if self.purpose in ("execution", "task"):
            # ECS assumes both roles for the account's tasks; the docs' pattern is ecs:*.
            source = names.arn("ecs", "*")
        elif self.purpose == "states":
            source = names.state_machine_arn
        elif self.ctx.stack.scheduler == "scheduler":
            service = "scheduler.amazonaws.com"
            source = names.arn("scheduler", f"schedule-group/{names.schedule_group}")
        else:
            service = "events.amazonaws.com"
            source = names.arn("events", f"rule/{names.rule('*')}")
        return iam.trust(service, names.account, source)

    def _policy(self) -> iam.Policy | None:
        policies: dict[str, Callable[[], iam.Policy | None]] = {
            "execution": lambda: iam.execution_policy(self.names),
            "task": lambda: iam.task_policy(self.names),
            "states": lambda: iam.states_policy(),
            "schedule": lambda: iam.schedule_policy(
                self.names, run_workers=self.ctx.stack.mode == "batch"
            ),
        }
        return policies[self.purpose]()

    def desired(self) -> State | None:
        stack = self.ctx.stack
        if self.ctx.destroying or (self.purpose == "schedule" and not stack.schedules):
            return None
        policy = self._policy()
        managed = stack.worker.managed_policies if self.purpose == "task" else ()
        return {
            "trustPolicy": self._trust(),
            "policy": policy,
            "inlinePolicies": [INLINE_POLICY] if policy is not None else [],
            "managedPolicies": sorted(managed),
            "permissionsBoundary": stack.permissions_boundary,
            "tags": self.tags,
        }

    def changes(self, current: State, desired: State) -> list[Change]:
        # Documents are sent as written and compared in canonical form (AWS may reorder).
        canonical = {
            **desired,
            "trustPolicy": iam.canonical(desired["trustPolicy"]),
            "policy": iam.canonical(desired["policy"]),
        }
        return super().changes(current, canonical)

    async def create(self, desired: State) -> None:
        client = await self.aws.client("iam")
        boundary = (
            {"PermissionsBoundary": desired["permissionsBoundary"]}
            if desired["permissionsBoundary"]
            else {}
        )
        await client.create_role(
            RoleName=self.name,
            AssumeRolePolicyDocument=json.dumps(desired["trustPolicy"]),
            Description=f"sfn-fleet {self.ctx.stack.name}: {PURPOSES[self.purpose][1]}",
            Tags=tag_list(desired["tags"], "Key", "Value"),
            **boundary,
        )
        for arn in desired["managedPolicies"]:
            await client.attach_role_policy(RoleName=self.name, PolicyArn=arn)
        if desired["policy"] is not None:
            await client.put_role_policy(
                RoleName=self.name,
                PolicyName=INLINE_POLICY,
                PolicyDocument=json.dumps(desired["policy"]),
            )

    async def update(self, current: State, desired: State, changes: list[Change]) -> None:
        client = await self.aws.client("iam")
        fields = top_fields(changes)
        if "trustPolicy" in fields:
            await client.update_assume_role_policy(
                RoleName=self.name, PolicyDocument=json.dumps(desired["trustPolicy"])
            )
        if "policy" in fields:
            if desired["policy"] is None:
                await client.delete_role_policy(RoleName=self.name, PolicyName=INLINE_POLICY)
            else:
                await client.put_role_policy(
                    RoleName=self.name,
                    PolicyName=INLINE_POLICY,
                    PolicyDocument=json.dumps(desired["policy"]),
                )
        for name in sorted(set(current["inlinePolicies"]) - set(desired["inlinePolicies"])):
            if name != INLINE_POLICY:  # the stack's own is handled above
                await client.delete_role_policy(RoleName=self.name, PolicyName=name)
        for arn in sorted(set(desired["managedPolicies"]) - set(current["managedPolicies"])):
            await client.attach_role_policy(RoleName=self.name, PolicyArn=arn)
        for arn in sorted(set(current["managedPolicies"]) - set(desired["managedPolicies"])):
            await client.detach_role_policy(RoleName=self.name, PolicyArn=arn)
        if "permissionsBoundary" in fields:
            if desired["permissionsBoundary"]:
                await client.put_role_permissions_boundary(
                    RoleName=self.name, PermissionsBoundary=desired["permissionsBoundary"]
                )
            else:
                await client.delete_role_permissions_boundary(RoleName=self.name)
        if "tags" in fields:
            await sync_tags(
                current["tags"],
                desired["tags"],
                lambda t: client.tag_role(RoleName=self.name, Tags=tag_list(t, "Key", "Value")),
                lambda keys: client.untag_role(RoleName=self.name, TagKeys=keys),
            )

    async def delete(self, current: State) -> None:
        client = await self.aws.client("iam")
        for name in (await client.list_role_policies(RoleName=self.name))["PolicyNames"]:
            await client.delete_role_policy(RoleName=self.name, PolicyName=name)
        attached = await client.list_attached_role_policies(RoleName=self.name)
        for policy in attached["AttachedPolicies"]:
            await client.detach_role_policy(RoleName=self.name, PolicyArn=policy["PolicyArn"])
        await client.delete_role(RoleName=self.name)


def _document(value: Any) -> dict[str, Any]:
    """A policy document as a dict (botocore decodes IAM's URL-encoded JSON; be safe)."""
    if isinstance(value, str):
        return dict(json.loads(unquote(value)))
    return dict(value)
