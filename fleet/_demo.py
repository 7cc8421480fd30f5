"""``fleet demo``: the whole story on a laptop, with no AWS account.

A local Step Functions endpoint starts in-process; the recipe's ``HelloWorldActivity`` and a
state machine whose Task state names it are created; a schedule like an EventBridge
``rate()`` rule starts executions; the fleet runs ``fleet.examples.hello`` with live progress
and ``/metrics`` served. Ctrl-C drains like SIGTERM on Fargate; a summary ends the run.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import aioboto3
import anyio
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from fleet._loadtest import percentiles
from fleet._machine import definition as recommended_definition
from fleet._metrics import TASK_OUTCOMES, Metrics
from fleet._settings import Settings
from fleet._supervisor import Supervisor
from fleet.emulator import Emulator, EmulatorOptions

ACTIVITY = "HelloWorldActivity"
STATE_MACHINE = "HelloWorldStateMachine"
REGION = "us-east-1"
STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def definition(activity_arn: str, heartbeat_seconds: int = 20, timeout_seconds: int = 300) -> str:
    """The recipe's state machine: one Task on the activity, retried on the fleet's errors."""
    return recommended_definition(
        activity_arn,
        heartbeat_seconds=heartbeat_seconds,
        timeout_seconds=timeout_seconds,
        state_name="Greet",
        comment="HelloWorld: a Task state on an activity, run by the fleet",
    )


@dataclass
class DemoOptions:
    """What ``fleet demo`` was asked to do."""

    every: float = 1.0
    batch: int = 5
    executions: int | None = 100
    duration: float | None = None
    work_seconds: float = 0.5
    fail_rate: float = 0.05
    concurrency: int = 16
    metrics_port: int = 9464
    long_poll_seconds: float = 2.0


@dataclass
class Progress:
    """What the live display shows, kept up to date by the demo's loops."""

    started: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    began: float = field(default_factory=time.monotonic)
    completions: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=40))
    scheduling: bool = True


class Demo:
    """One run of the demo."""

    def __init__(self, options: DemoOptions, console: Console) -> None:
        self.options = options
        self.console = console
        self.metrics = Metrics()
        self.progress = Progress()
        self.sup: Supervisor | None = None
        self.port = 0
        self.status: int | None = None

    async def run(self) -> int:
        """Run the demo until the executions are done or Ctrl-C; return the exit status."""
        from fleet._worker import serve
        from fleet.examples.hello import app

        # The local endpoint accepts any credentials; the worker still wants some to sign with.
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            os.environ.setdefault(key, "demo")
        emulator = Emulator(
            EmulatorOptions(long_poll_seconds=self.options.long_poll_seconds), console=True
        )
        async with emulator as emu:
            session = aioboto3.Session(
                aws_access_key_id="demo", aws_secret_access_key="demo", region_name=REGION
            )
            async with session.client("stepfunctions", endpoint_url=emu.endpoint_url) as sfn:
                activity = (await sfn.create_activity(name=ACTIVITY))["activityArn"]
                machine = (
                    await sfn.create_state_machine(
                        name=STATE_MACHINE,
                        definition=definition(activity),
                        roleArn="arn:aws:iam::123456789012:role/HelloWorldStateMachineRole",
                    )
                )["stateMachineArn"]
                self.console.print(
                    f"[bold]fleet demo[/]: local Step Functions endpoint at {emu.endpoint_url}\n"
                    f"  activity       {activity}\n  state machine  {machine}\n"
                    f"  console        {emu.console_url}"
                )
                settings = Settings(
                    endpoint_url=emu.endpoint_url,
                    region=REGION,
                    concurrency=self.options.concurrency,
                    max_pollers=min(10, self.options.concurrency),
                    metrics_port=self.options.metrics_port,
                    metrics_host="127.0.0.1",
                    worker_name="demo-worker",
                    task_protection="off",
                    log_level="WARNING",
                    log_format="console",
                    drain_seconds=10,
                    drain_reserve_seconds=3,
                )
                ready = anyio.Event()

                def started(sup: Supervisor, port: int) -> None:
                    self.sup, self.port = sup, port
                    ready.set()

                async with anyio.create_task_group() as tg:

                    async def worker() -> None:
                        self.status = await serve(
                            app, settings, metrics=self.metrics, handle_signals=True,
                            on_started=started,
                        )  # fmt: skip
                        ready.set()

                    tg.start_soon(worker)
                    await ready.wait()
                    if self.sup is None:
                        return self.status or 1
                    tg.start_soon(self._schedule, sfn, machine)
                    tg.start_soon(self._follow, sfn, machine)
                    await self._display()
                    tg.cancel_scope.cancel()
                await self._count(sfn, machine)  # the last reports, after the worker's exit
                self.console.print()
                self.console.print(self._summary())
        return self.status or 0

    async def _schedule(self, sfn: Any, machine: str) -> None:
        """Start ``batch`` executions every ``every`` seconds, like a rate() rule."""
        opts, progress = self.options, self.progress
        tick = 0
        while self.sup is not None and self.sup.accepting:
            elapsed = time.monotonic() - progress.began
            if opts.duration is not None and elapsed >= opts.duration:
                break
            for _ in range(opts.batch):
                if opts.executions is not None and progress.started >= opts.executions:
                    break
                payload = {
                    "who": f"world #{progress.started + 1}",
                    "work_seconds": opts.work_seconds,
                    "fail_rate": opts.fail_rate,
                }
                await sfn.start_execution(stateMachineArn=machine, input=json.dumps(payload))
                progress.started += 1
            if opts.executions is not None and progress.started >= opts.executions:
                break
            tick += 1
            await anyio.sleep(max(0.0, progress.began + tick * opts.every - time.monotonic()))
        progress.scheduling = False

    async def _follow(self, sfn: Any, machine: str) -> None:
        """Count executions by status; stop the worker once everything scheduled has ended."""
        progress = self.progress
        while True:
            pages = await self._count(sfn, machine)
            counts = progress.statuses
            done = self._completed()
            progress.completions.append((time.monotonic(), done))
            if not progress.scheduling and counts["RUNNING"] == 0 and self.sup is not None:
                self.sup.stop("demo finished")
            # The endpoint throttles as AWS does: ListExecutions refills 5 calls per second, so
            # stay at 4 a second however many pages there are.
            await anyio.sleep(0.25 * pages)

    async def _count(self, sfn: Any, machine: str) -> int:
        """Read every execution's status and duration from ListExecutions; return the pages."""
        counts = dict.fromkeys(STATUSES, 0)
        latencies = []
        kwargs: dict[str, Any] = {"stateMachineArn": machine, "maxResults": 1000}
        pages = 0
        while True:
            pages += 1
            page = await sfn.list_executions(**kwargs)
            for item in page["executions"]:
                counts[item["status"]] += 1
                if item.get("stopDate"):
                    latencies.append((item["stopDate"] - item["startDate"]).total_seconds())
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        self.progress.statuses, self.progress.latencies = counts, latencies
        return pages

    def _completed(self) -> float:
        return self.metrics.total("fleet_tasks_completed_total", activity=ACTIVITY)

    async def _display(self) -> None:
        with Live(self._render(), console=self.console, refresh_per_second=4) as live:
            while self.status is None:
                live.update(self._render())
                await anyio.sleep(0.25)
            live.update(self._render())

    def _rate(self) -> float:
        window = self.progress.completions
        if len(window) < 2:
            return 0.0
        (t0, c0), (t1, c1) = window[0], window[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0

    def _render(self) -> Panel:
        p, sup = self.progress, self.sup
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column(justify="right")
        table.add_row("executions started", str(p.started))
        for status in STATUSES:
            table.add_row(f"  {status.lower().replace('_', ' ')}", str(p.statuses.get(status, 0)))
        table.add_row("tasks per second", f"{self._rate():.1f}")
        if sup is not None:
            snap = sup.snapshot().activities[0]
            table.add_row("in flight / slots", f"{snap.in_flight} / {snap.slots_capacity}")
            table.add_row("pollers (polls in flight)", f"{snap.pollers} ({snap.polls_in_flight})")
            state = sup.mode.value if self.status is None else f"exited ({self.status})"
            table.add_row("worker", state)
        table.add_row("elapsed", f"{time.monotonic() - p.began:.1f} s")
        hint = "Ctrl-C drains like SIGTERM on Fargate"
        footer = f"metrics: http://127.0.0.1:{self.port}/metrics    {hint}"
        return Panel(Group(table, footer), title="sfn-fleet demo", expand=False)

    def _summary(self) -> Table:
        p = self.progress
        table = Table(title="Demo summary", show_header=True)
        table.add_column("measure")
        table.add_column("value", justify="right")
        table.add_row("executions started", str(p.started))
        for status in STATUSES:
            table.add_row(f"executions {status.lower()}", str(p.statuses.get(status, 0)))
        for outcome in TASK_OUTCOMES:  # fmt: skip
            count = self.metrics.total(
                "fleet_tasks_completed_total", activity=ACTIVITY, outcome=outcome
            )
            table.add_row(f"tasks {outcome}", f"{count:.0f}")
        spread = percentiles(p.latencies)
        for key in ("p50", "p90", "p99", "max"):
            value = spread[key]
            table.add_row(f"execution time {key}", "-" if value is None else f"{value:.2f} s")
        elapsed = time.monotonic() - p.began
        table.add_row("elapsed", f"{elapsed:.1f} s")
        table.add_row("worker exit status", str(self.status))
        if p.statuses.get("RUNNING"):
            table.caption = (
                "Executions still running wait for a worker: never started, or failed back by "
                "the drain and due for their Retry. In production the rest of the fleet takes "
                "them."
            )
        return table
