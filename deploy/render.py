"""Human output: rich tables for sizing and plans, one line per applied step."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from deploy.resources.base import Change, Step
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


def _value(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def change_text(change: Change) -> str:
    """``field: current → desired`` (``+ field = desired`` when it is new)."""
    if change.current is None:
        return f"+ {change.field} = {_value(change.desired)}"
    if change.desired is None:
        return f"- {change.field}"
    return f"{change.field}: {_value(change.current)} → {_value(change.desired)}"


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
