"""Human output: rich tables for sizing and plans, one line per applied step."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from deploy.release import Status
from deploy.resources.base import Change, Step
from deploy.resources.schedules import WORKERS_SUFFIX
from deploy.sizing import Sizing

ACTION_STYLE = {
    "create": "green",
    "update": "yellow",
    "delete": "red",
    "unchanged": "dim",
    "absent": "dim",
    "conflict": "bold red",
}
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "note": "cyan"}


# Rows for new resources show their attributes up to this many lines.
CREATE_LINES = 12


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def change_text(change: Change) -> str:
    """The change in full, element by element for lists of values.

    ``+ field = desired`` when new, ``- field = current`` when removed, ``field: a → b``
    otherwise; a list of plain values shows the items it gains and loses, one a line.
    """
    if change.current is None:
        return f"+ {change.field} = {_value(change.desired)}"
    if change.desired is None:
        return f"- {change.field} = {_value(change.current)}"
    before, after = change.current, change.desired
    if isinstance(before, list) and isinstance(after, list):
        plain = [_value(v) for v in before], [_value(v) for v in after]
        lines = [f"{change.field}:"]
        lines += [f"  - {v}" for v in plain[0] if v not in plain[1]]
        lines += [f"  + {v}" for v in plain[1] if v not in plain[0]]
        if len(lines) == 1:  # same items, another order
            lines[0] += f" {_value(before)} → {_value(after)}"
        return "\n".join(lines)
    return f"{change.field}: {_value(before)} → {_value(after)}"


def created_text(step: Step) -> str:
    """The main attributes of a resource to create (tags left out, long lists cut short)."""
    shown = [c for c in step.changes if not c.field.startswith("tags")]
    lines = [f"{c.field} = {_value(c.desired)}" for c in shown[:CREATE_LINES]]
    if len(shown) > CREATE_LINES:
        lines.append(f"… and {len(shown) - CREATE_LINES} more (--json shows all)")
    return "\n".join(lines)


def destructive(steps: list[Step]) -> list[str]:
    """What in ``steps`` needs confirmation: deletes, naming a switch between modes."""
    out = []
    for step in steps:
        if step.action != "delete":
            continue
        what = f"delete {step.kind} '{step.name}'"
        if step.kind == "ECS service":
            what += " (a switch to batch mode stops the running workers)"
        elif step.kind == "schedule" and step.name.endswith(WORKERS_SUFFIX):
            what += " (a switch to service mode: schedules stop running worker tasks)"
        out.append(what)
    return out


def plan_table(steps: list[Step], title: str) -> Table:
    """One row per resource: kind, name, action, and for updates the fields that differ."""
    table = Table(title=title, show_lines=False)
    table.add_column("resource")
    table.add_column("name")
    table.add_column("action")
    table.add_column("changes / note", overflow="fold")
    for step in steps:
        if step.action == "absent" and not step.note:
            continue
        detail = step.note
        if step.action == "update":
            detail = "\n".join(change_text(c) for c in step.changes)
        elif step.action == "create":
            detail = created_text(step)
        style = ACTION_STYLE[step.action]
        table.add_row(
            escape(step.kind), escape(step.name), f"[{style}]{step.action}[/]", escape(detail)
        )
    return table


def summary(steps: list[Step]) -> str:
    """``2 to create, 1 to update, 0 to delete, 20 unchanged``."""
    count = {a: sum(1 for s in steps if s.action == a) for a in ACTION_STYLE}
    return (
        f"{count['create']} to create, {count['update']} to update, "
        f"{count['delete']} to delete, {count['unchanged']} unchanged"
    )


def step_line(step: Step) -> str:
    """One line reporting what apply or destroy did to a resource."""
    style = ACTION_STYLE[step.action]
    fields = ""
    if step.action == "update":
        fields = " (" + ", ".join(sorted({c.field for c in step.changes})) + ")"
    note = f" — {step.note}" if step.note else ""
    text = escape(f"{step.kind} ")
    return f"[{style}]{step.action:>9}[/] {text}[bold]{escape(step.name)}[/]{escape(fields + note)}"


def done_summary(steps: list[Step]) -> str:
    """``1 created, 2 updated, 0 deleted, 20 unchanged``."""
    count = {a: sum(1 for s in steps if s.action == a) for a in ACTION_STYLE}
    return (
        f"{count['create']} created, {count['update']} updated, "
        f"{count['delete']} deleted, {count['unchanged']} unchanged"
    )


def heartbeat_ceiling(sizing: Sizing) -> str:
    """One line: the in-flight demand against the region's heartbeat ceiling."""
    used = sizing.inflight_mean / sizing.heartbeat_ceiling if sizing.heartbeat_ceiling else 0.0
    return (
        f"heartbeat ceiling: {sizing.inflight_mean:,.0f} tasks in flight of "
        f"{sizing.heartbeat_ceiling:,} ({used:.0%}) at HeartbeatSeconds "
        f"{sizing.heartbeat_seconds} in {sizing.region}"
    )


def sizing_tables(sizing: Sizing, console: Console) -> None:
    """Print the fleet, per-activity and cost tables and the findings."""
    fleet = Table(title=f"Fleet ({sizing.mode} mode, {sizing.region}, {sizing.architecture})")
    fleet.add_column("what", overflow="fold")
    fleet.add_column("value", justify="right")
    rows = [
        ("Fargate task size (cpu / memory)", f"{sizing.size} ({sizing.cpu} / {sizing.memory})"),
        ("concurrency needed (slots)", f"{sizing.concurrency}"),
        ("slots per task (FLEET_CONCURRENCY)", f"{sizing.slots_per_task}"),
        (
            "tasks min / desired / max",
            f"{sizing.tasks_min} / {sizing.tasks_desired} / {sizing.tasks_max}",
        ),
        (
            "pollers per task, per activity (min / max)",
            f"{sizing.min_pollers_per_task} / {sizing.max_pollers_per_task}",
        ),
        (
            "GetActivityTask calls/s",
            f"{sizing.polls_per_second:,.2f} of {sizing.api_refill_per_second}",
        ),
        (
            "SendTaskSuccess/Failure calls/s",
            f"{sizing.results_per_second:,.2f} of {sizing.api_refill_per_second}",
        ),
        (
            "SendTaskHeartbeat calls/s",
            f"{sizing.heartbeats_per_second:,.2f} of {sizing.api_refill_per_second}",
        ),
        (
            f"tasks in flight / heartbeat ceiling at HeartbeatSeconds {sizing.heartbeat_seconds}",
            f"{sizing.inflight_mean:,.0f} of {sizing.heartbeat_ceiling:,}",
        ),
        (
            "API calls/s per Fargate task, each API (FLEET_API_RATE)",
            f"{sizing.api_rate_per_task:g}",
        ),
    ]
    if sizing.run_seconds is not None:
        rows.append(("estimated run length", f"{sizing.run_seconds:,.0f} s"))
    for row in rows:
        fleet.add_row(*row)
    console.print(fleet)

    activities = Table(title="Per activity")
    activities.add_column("activity", overflow="fold")
    for column in ("tasks/s", "in flight mean/p95", "slots", "pollers desired/max", "beats/s"):
        activities.add_column(column, justify="right")
    for load in sizing.activities:
        activities.add_row(
            load.name,
            f"{load.arrival_rate_per_second:,.3g}",
            f"{load.inflight_mean:,.1f} / {load.inflight_p95:,.1f}",
            f"{load.concurrency}",
            f"{load.fleet_pollers_desired} / {load.fleet_pollers_max}",
            f"{load.heartbeats_per_second:,.2f}",
        )
    console.print(activities)

    cost = Table(title="Cost, USD, at the desired task count (us-east-1 prices)")
    cost.add_column("")
    cost.add_column("x86_64", justify="right")
    cost.add_column("arm64", justify="right")
    cost.add_column(f"{sizing.architecture}, Spot share", justify="right")
    keys = ("x86_64", "arm64", "blended")
    cost.add_row("per hour", *(f"{sizing.cost_per_hour[k]:,.4f}" for k in keys))
    cost.add_row("per million tasks", *(f"{sizing.cost_per_million_tasks[k]:,.2f}" for k in keys))
    if sizing.cost_per_run is not None:
        cost.add_row("per run", "", "", f"{sizing.cost_per_run:,.4f}")
    console.print(cost)

    for finding in sizing.findings:
        style = SEVERITY_STYLE[finding.severity]
        console.print(
            f"[{style}]{finding.severity}[/] ({finding.limit}): {escape(finding.message)}"
        )


def status(found: Status, console: Console) -> None:
    """Print the service's counts, image, deployments and latest events."""
    console.print(
        f"service [bold]{escape(found.service)}[/]: {found.running}/{found.desired} running, "
        f"{found.pending} pending; task definition {escape(found.task_definition)}"
    )
    console.print(f"image {escape(found.image)}", soft_wrap=True)
    table = Table(title="deployments")
    for column in ("id", "status", "revision", "rollout", "running/desired", "pending", "failed"):
        table.add_column(column)
    for d in found.deployments:
        table.add_row(
            escape(d.id),
            escape(d.status),
            escape(d.revision),
            escape(d.rollout or "-"),
            f"{d.running}/{d.desired}",
            str(d.pending),
            str(d.failed),
        )
    console.print(table)
    for event in found.events:
        console.print(f"  {escape(event)}", soft_wrap=True)
