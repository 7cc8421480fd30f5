"""``fleet executions``: start, list, describe, stop executions and read their history.

It talks to the local endpoint or AWS with the flags of ``fleet._client``. ``history`` prints
a timeline: each event's time since the start, its state, how long the state, the wait for a
worker or the task's run took, and the error and cause of failures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from typing import Any, TextIO

from fleet._client import above_zero, add_client_flags
from fleet._errors import ConfigurationError
from fleet._timeline import rows

CLOSED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
STATUSES = ("RUNNING", *CLOSED, "PENDING_REDRIVE")


def add_parser(sub: Any) -> None:
    """Register ``fleet executions`` and its verbs on the ``fleet`` subparsers."""
    parser = sub.add_parser(
        "executions",
        help="start, list, describe, stop executions and read their history",
        description="Work with the executions of a state machine, on a local endpoint or AWS.",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    def verb(name: str, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = verbs.add_parser(name, help=help, description=help)
        add_client_flags(p)
        p.add_argument("--json", action="store_true", help="print the API's answer as JSON")
        return p

    p = verb("start", "start an execution; with --wait, follow it to the end")
    p.add_argument("state_machine", metavar="STATE_MACHINE", help="its ARN or name")
    p.add_argument("--input", default="{}", metavar="JSON", help="the input (default {})")
    p.add_argument("--name", default=None, help="the execution's name (default: a UUID)")
    p.add_argument("--wait", action="store_true", help="wait for the end; exit 1 unless it "
                   "SUCCEEDED")  # fmt: skip
    p.add_argument("--timeout", type=above_zero(float), default=600.0, metavar="SECONDS",
                   help="with --wait, give up after this long (default 600)")  # fmt: skip

    p = verb("list", "list a state machine's executions, newest first")
    p.add_argument("state_machine", metavar="STATE_MACHINE", help="its ARN or name")
    p.add_argument("--status", choices=STATUSES, default=None, help="only executions in this "
                   "status")  # fmt: skip
    p.add_argument("--max", type=above_zero(int), default=50, metavar="N",
                   help="at most N (default 50)")  # fmt: skip

    p = verb("describe", "show an execution: status, times, input, output, error and cause")
    p.add_argument("execution", metavar="EXECUTION_ARN")

    p = verb("history", "show an execution's events as a timeline with durations")
    p.add_argument("execution", metavar="EXECUTION_ARN")

    p = verb("stop", "stop a running execution")
    p.add_argument("execution", metavar="EXECUTION_ARN")
    p.add_argument("--error", default=None, help="the error to record")
    p.add_argument("--cause", default=None, help="the cause to record")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Carry out ``fleet executions VERB``; return the exit status.

    Raises ConfigurationError with one line for anything the user or the service refused.
    """
    from fleet._client import explain, sync_client

    out = out or sys.stdout
    client = sync_client(args)
    try:
        return _VERBS[args.verb](client, args, out)
    except ConfigurationError:
        raise
    except Exception as exc:  # botocore's: credentials, connection, API errors
        raise ConfigurationError(explain(exc, args.endpoint_url)) from None


def _machine_arn(client: Any, name_or_arn: str) -> str:
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    for page in client.get_paginator("list_state_machines").paginate():
        for item in page["stateMachines"]:
            if item["name"] == name_or_arn:
                return str(item["stateMachineArn"])
    raise ConfigurationError(f"no state machine named {name_or_arn!r}")


def _start(client: Any, args: argparse.Namespace, out: TextIO) -> int:
    try:
        json.loads(args.input)
    except ValueError as exc:
        raise ConfigurationError(f"--input is not JSON: {exc}") from None
    params = {"stateMachineArn": _machine_arn(client, args.state_machine), "input": args.input}
    if args.name:
        params["name"] = args.name
    started = client.start_execution(**params)
    arn = started["executionArn"]
    if not args.wait:
        _print(out, _jsonable(started)) if args.json else print(arn, file=out)
        return 0
    deadline = time.monotonic() + args.timeout
    while True:
        described = client.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            break
        if time.monotonic() > deadline:
            raise ConfigurationError(f"{arn} is still RUNNING after {args.timeout:g} s")
        time.sleep(0.2)
    _show(described, args, out)
    return 0 if described["status"] == "SUCCEEDED" else 1


def _list(client: Any, args: argparse.Namespace, out: TextIO) -> int:
    params: dict[str, Any] = {"stateMachineArn": _machine_arn(client, args.state_machine)}
    if args.status:
        params["statusFilter"] = args.status
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("list_executions").paginate(**params):
        items.extend(page["executions"])
        if len(items) >= args.max:
            break
    items = items[: args.max]
    if args.json:
        _print(out, _jsonable(items))
        return 0
    if not items:
        print("no executions", file=out)
        return 0
    width = max(len(item["name"]) for item in items)
    print(f"{'NAME':<{width}}  {'STATUS':<9}  {'STARTED':<23}  DURATION", file=out)
    for item in items:
        stop = item.get("stopDate")
        duration = _seconds(stop - item["startDate"]) if stop else "running"
        print(f"{item['name']:<{width}}  {item['status']:<9}  {_when(item['startDate'])}  "
              f"{duration}", file=out)  # fmt: skip
    return 0


def _describe(client: Any, args: argparse.Namespace, out: TextIO) -> int:
    _show(client.describe_execution(executionArn=args.execution), args, out)
    return 0


def _show(described: dict[str, Any], args: argparse.Namespace, out: TextIO) -> None:
    if args.json:
        _print(out, _jsonable(described))
        return
    rows = [
        ("execution", described["executionArn"]),
        ("state machine", described["stateMachineArn"]),
        ("status", described["status"]),
        ("started", _when(described["startDate"])),
    ]
    stop = described.get("stopDate")
    if stop is not None:
        rows.append(("stopped", f"{_when(stop)} (after {_seconds(stop - described['startDate'])})"))
    for key in ("input", "output", "error", "cause"):
        if described.get(key) is not None:
            rows.append((key, described[key]))
    for key, value in rows:
        print(f"{key:<14} {_indent(str(value).rstrip(), 15)}", file=out)


def _stop(client: Any, args: argparse.Namespace, out: TextIO) -> int:
    params = {"executionArn": args.execution}
    if args.error is not None:
        params["error"] = args.error
    if args.cause is not None:
        params["cause"] = args.cause
    stopped = client.stop_execution(**params)
    if args.json:
        _print(out, _jsonable(stopped))
    else:
        print(f"stopped {args.execution} at {_when(stopped['stopDate'])}", file=out)
    return 0


def _history(client: Any, args: argparse.Namespace, out: TextIO) -> int:
    events: list[dict[str, Any]] = []
    for page in client.get_paginator("get_execution_history").paginate(executionArn=args.execution):
        events.extend(page["events"])
    if args.json:
        _print(out, _jsonable(events))
        return 0
    for line in timeline(events):
        print(line, file=out)
    return 0


def timeline(events: list[dict[str, Any]]) -> list[str]:
    """An execution's events as readable lines: offset, type, state, durations, error, cause."""
    lines: list[str] = []
    last_cause = ""
    width = max((len(e["type"]) for e in events), default=0)
    for row in rows(events):
        notes = [f"{kind} {seconds:.3f}s" for kind, seconds in row.durations.items()]
        if row.worker and row.type.endswith("Started"):
            notes.append(f"worker {row.worker}")
        if row.error:
            notes.append(f"error {row.error}")
        line = f"{f'+{row.offset:.3f}s':>10}  {row.type:<{width}}  {row.state:<16}  "
        lines.append((line + "  ".join(notes)).rstrip())
        cause = (row.cause or "").rstrip()
        if cause:
            shown = "(as above)" if cause == last_cause else _indent(cause, 19)
            lines.append(" " * 12 + "cause: " + shown)
            last_cause = cause
    return lines


def _seconds(delta: Any) -> str:
    return f"{delta.total_seconds():.3f}s"


def _when(moment: datetime) -> str:
    return moment.isoformat(sep=" ", timespec="milliseconds")[:23]


def _indent(text: str, by: int) -> str:
    return text.replace("\n", "\n" + " " * by)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _print(out: TextIO, value: Any) -> None:
    print(json.dumps(value, indent=2), file=out)


_VERBS = {
    "start": _start,
    "list": _list,
    "describe": _describe,
    "history": _history,
    "stop": _stop,
}
