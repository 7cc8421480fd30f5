"""A lock per stack, so that two commands that change it cannot interleave.

The lock is an SSM parameter, ``/sfn-fleet/<stack>/lock``: PutParameter without Overwrite
creates it only if it does not exist, which makes taking the lock one atomic call. Its value
says who holds it and since when, for the message the second command prints.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from deploy.aws import Aws, error_code
from deploy.errors import DeployError


class LockHeld(DeployError):
    """Another command holds the stack's lock."""


def parameter(stack: str) -> str:
    """The SSM parameter holding ``stack``'s lock."""
    return f"/sfn-fleet/{stack}/lock"


def _holder(command: str) -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return json.dumps(
        {
            "command": command,
            "holder": f"{user}@{socket.gethostname()} pid {os.getpid()}",
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )


async def holder(aws: Aws, stack: str) -> dict[str, str] | None:
    """Who holds ``stack``'s lock, or None if nobody does."""
    ssm = await aws.client("ssm")
    try:
        found = await ssm.get_parameter(Name=parameter(stack))
    except ClientError as exc:
        if error_code(exc) == "ParameterNotFound":
            return None
        raise
    try:
        return dict(json.loads(found["Parameter"]["Value"]))
    except (ValueError, TypeError):
        return {"holder": str(found["Parameter"]["Value"])}


@asynccontextmanager
async def locked(aws: Aws, stack: str, command: str) -> AsyncIterator[None]:
    """Hold ``stack``'s lock for the block.

    Raises LockHeld naming the holder when another command has it.
    """
    ssm = await aws.client("ssm")
    try:
        await ssm.put_parameter(
            Name=parameter(stack),
            Value=_holder(command),
            Type="String",
            Overwrite=False,
            Description=f"sfn-fleet: held while a command changes stack {stack}",
        )
    except ClientError as exc:
        if error_code(exc) != "ParameterAlreadyExists":
            raise
        found = await holder(aws, stack) or {}
        raise LockHeld(
            f"stack '{stack}' is locked by `{found.get('command', '?')}` "
            f"({found.get('holder', '?')}, since {found.get('since', '?')}); wait for it to "
            f"finish, or if it died run `sfn-fleet-deploy unlock --stack FILE`"
        ) from None
    try:
        yield
    finally:
        try:
            await ssm.delete_parameter(Name=parameter(stack))
        except ClientError as exc:
            if error_code(exc) != "ParameterNotFound":
                raise


async def unlock(aws: Aws, stack: str) -> dict[str, str] | None:
    """Remove ``stack``'s lock whoever holds it; returns who held it (None if nobody)."""
    found = await holder(aws, stack)
    if found is not None:
        ssm = await aws.client("ssm")
        await ssm.delete_parameter(Name=parameter(stack))
    return found
