"""``fleet loadtest`` on the command line: flags, live progress, the summary and exit status."""

from __future__ import annotations

import argparse
from typing import Any

from fleet._client import above_zero, add_client_flags
from fleet._errors import ConfigurationError


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _latency(text: str) -> Any:
    from fleet._loadstats import Threshold

    try:
        return Threshold.latency(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--max-latency ")) from None


def add_parser(sub: Any) -> None:
    """Register ``fleet loadtest`` on the ``fleet`` subparsers."""
    parser = sub.add_parser(
        "loadtest",
        help="start executions at a steady rate and report throughput and latency",
        description="Start executions of a state machine at a steady rate (never faster than "
        "the StartExecution quota), follow them to the end, and report throughput, latency "
        "percentiles and histograms (end to end and per state), the time tasks waited between "
        "ActivityScheduled and ActivityStarted, outcomes and failures by error name, over "
        "time. Exits 1 when executions are left running or a threshold is crossed. Works "
        "against a local endpoint or real AWS.",
    )
    add = parser.add_argument
    add("--state-machine", required=True, metavar="ARN", help="the state machine to start")
    add("--executions", type=above_zero(int), required=True, metavar="N",
        help="how many executions to start")  # fmt: skip
    add("--rate", type=above_zero(float), required=True, metavar="PER_SECOND",
        help="executions started per second")  # fmt: skip
    add("--input", default="{}", metavar="JSON", help="input of every execution (default {})")
    add_client_flags(parser)
    add("--report", default=None, metavar="FILE", help="write the report as JSON to FILE")
    add("--html", default=None, metavar="FILE",
        help="write the report as a self-contained HTML page with plots to FILE")  # fmt: skip
    add("--max-failure-ratio", type=_fraction, default=None, metavar="FRACTION",
        help="exit 1 when more than this share of executions fail or cannot start "
        "(e.g. 0.01)")  # fmt: skip
    add("--max-latency", type=_latency, action="append", default=[], metavar="STAT=SECONDS",
        help="exit 1 when the end-to-end latency statistic is above SECONDS: p50, p90, p95, "
        "p99, avg or max, e.g. p99=2.5 (repeatable)")  # fmt: skip
    add("--timeout", type=above_zero(float), default=600.0, metavar="SECONDS",
        help="stop following after this long (default 600)")  # fmt: skip
    add("--history-sample", type=above_zero(int), default=200, metavar="N",
        help="executions whose history is read for per-state times (default 200)")  # fmt: skip
    add("--describe-sample", type=above_zero(int), default=200, metavar="N",
        help="failed executions described for their error name (default 200)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Run the load test with live progress on stderr, print the JSON report on stdout.

    Returns 0 when every execution ended and every threshold held, else 1. Raises
    ConfigurationError (one line) for bad flags, credentials, endpoint or state machine.
    """
    import anyio
    from rich.console import Console
    from rich.live import Live

    from fleet._client import region_of
    from fleet._loadtest import LoadTest, Progress

    console = Console(stderr=True)
    shown: list[str] = []
    live = Live(console=console, refresh_per_second=4, transient=False)

    def update(progress: Progress) -> None:
        for warning in progress.warnings[len(shown) :]:
            live.console.print(f"[yellow]warning:[/] {warning}", highlight=False)
            shown.append(warning)
        live.update(_render(progress))

    test = LoadTest(
        state_machine_arn=args.state_machine, executions=args.executions, rate=args.rate,
        input=args.input, endpoint_url=args.endpoint_url, region=region_of(args),
        profile=args.profile, timeout_seconds=args.timeout, history_sample=args.history_sample,
        describe_sample=args.describe_sample, max_failure_ratio=args.max_failure_ratio,
        max_latency=args.max_latency, progress=update,
    )  # fmt: skip
    with live:
        report = anyio.run(test.run)
        live.update(_render(test.snapshot()))
    if not console.is_terminal:
        console.line()  # a live display that is not on a terminal ends without a newline
    print(report.to_json())
    for verdict in report.thresholds:
        mark = "[green]✓[/]" if verdict["passed"] else "[red]✗[/]"
        value = "nothing measured" if verdict["value"] is None else f"{verdict['value']:.4g}"
        console.print(f"{mark} {verdict['name']} {value} (limit {verdict['limit']:g})",
                      highlight=False)  # fmt: skip
    if report.outcomes.get("RUNNING"):
        console.print(f"[red]✗[/] {report.outcomes['RUNNING']} executions still running after "
                      f"--timeout {args.timeout:g} s", highlight=False)  # fmt: skip
    try:
        if args.report:
            with open(args.report, "w") as out:
                out.write(report.to_json() + "\n")
        if args.html:
            from fleet._loadreport import render

            with open(args.html, "w") as out:
                out.write(render(report))
    except OSError as exc:
        raise ConfigurationError(f"cannot write the report: {exc}") from None
    return 0 if report.passed else 1


def _render(p: Any) -> Any:
    from rich.table import Table

    table = Table.grid(padding=(0, 2))
    done = p.succeeded + p.failed
    table.add_row("started", f"{p.started}/{p.total}",
                  f"asked {p.rate_asked:g}/s", f"achieved {p.rate_achieved:.1f}/s",
                  f"{p.elapsed_seconds:.0f} s")  # fmt: skip
    table.add_row("finished", f"{done}/{p.total}", f"succeeded {p.succeeded}",
                  f"failed {p.failed}", f"running {p.running}")  # fmt: skip
    if p.failures_by_error:
        errors = "  ".join(f"{name} {count}" for name, count in p.failures_by_error.items())
        table.add_row("failures", errors)
    lat = p.latency_seconds
    if lat["p50"] is not None:
        table.add_row("latency", f"p50 {lat['p50']:.3f}s", f"p90 {lat['p90']:.3f}s",
                      f"p99 {lat['p99']:.3f}s", f"max {lat['max']:.3f}s")  # fmt: skip
    return table
