"""Helpers for the endpoint tests: definitions, raw HTTP calls, waiting for an execution."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import ClientError
from support import machines
from support.machines import ROLE as ROLE
from support.sigv4 import DUMMY_AUTHORIZATION

#: A well-formed SigV4 Authorization header (the endpoint checks its form, not the signature).
SIGNED = DUMMY_AUTHORIZATION


def task_definition(activity_arn: str, **task: Any) -> str:
    """One Task state on `activity_arn` (extra fields merged in), ending the execution."""
    return json.dumps(machines.one_task(activity_arn, **task))


async def machine_with_task(sfn: Any, name: str = "m", **task: Any) -> tuple[str, str]:
    """Create an activity and a one-Task state machine on it; return (activity, machine) ARNs."""
    return await machines.machine_with_task(sfn, f"{name}-activity", name, **task)


async def create_machine(sfn: Any, definition: dict[str, Any], name: str = "m") -> str:
    """Create a state machine from a definition dict; return its ARN."""
    return await machines.create_machine(sfn, definition, name)


async def wait_closed(sfn: Any, execution_arn: str, seconds: float = 10.0) -> dict[str, Any]:
    """DescribeExecution until the execution is no longer RUNNING."""
    async with asyncio.timeout(seconds):
        while True:
            described: dict[str, Any] = await sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            await asyncio.sleep(0.01)


_machine_names = itertools.count()


async def run_machine(
    sfn: Any, definition: dict[str, Any], payload: Any
) -> tuple[dict[str, Any], str]:
    """Create a state machine, run it once on ``payload``; (its description when closed, ARN)."""
    machine = await create_machine(sfn, definition, name=f"m{next(_machine_names)}")
    started = await sfn.start_execution(stateMachineArn=machine, input=json.dumps(payload))
    arn = started["executionArn"]
    return await wait_closed(sfn, arn), arn


async def events(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """The whole history, oldest first."""
    answer = await sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)
    return list(answer["events"])


async def event_types(sfn: Any, execution_arn: str) -> list[str]:
    """The types of the history's events, oldest first."""
    return [event["type"] for event in await events(sfn, execution_arn)]


def code_of(error: ClientError) -> str:
    """The AWS error code of a botocore ClientError."""
    return str(error.response["Error"]["Code"])


async def raw_call(
    url: str,
    target: str | None,
    body: bytes,
    headers: dict[str, str | None] | None = None,
    method: str = "POST",
    path: str = "/",
) -> tuple[int, dict[str, Any]]:
    """One HTTP request on a fresh connection; returns the status and the decoded JSON body.

    The request is signed with `SIGNED` unless `headers` gives another Authorization (None
    leaves it out).
    """
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Connection: close",
        "Content-Type: application/x-amz-json-1.0",
        f"Content-Length: {len(body)}",
    ]
    if target is not None:
        lines.append(f"X-Amz-Target: {target}")
    headers = {"Authorization": SIGNED, **(headers or {})}
    lines += [f"{k}: {v}" for k, v in headers.items() if v is not None]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    try:
        answer = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, payload = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(payload) if payload else {}


async def until(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait until `predicate()` holds, checking every few milliseconds."""
    async with asyncio.timeout(seconds):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.005)
