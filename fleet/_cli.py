"""The ``fleet`` command line: ``run``, ``emulator``, ``demo`` and ``loadtest``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from fleet._errors import ConfigurationError
from fleet._version import __version__

#: Flags whose name is not simply the setting's name.
_FLAG_ALIASES = {"exit_when_idle_seconds": "--exit-when-idle"}


def _run_parser(sub: Any) -> argparse.ArgumentParser:
    from fleet._settings import Settings, flag_name

    parser: argparse.ArgumentParser = sub.add_parser(
        "run",
        help="run the activity workers of an app",
        description="Poll Step Functions for the app's activities and run their handlers. "
        "Every flag overrides the FLEET_* environment variable of the same name.",
    )
    parser.add_argument("app", nargs="?", help="the app as module:attribute (or FLEET_APP)")
    for name, info in Settings.model_fields.items():
        if name == "app":
            continue
        flag = _FLAG_ALIASES.get(name, flag_name(name))
        metavar = "SECONDS" if name.endswith("_seconds") else name.split("_")[-1].upper()
        parser.add_argument(flag, dest=name, metavar=metavar, help=info.description)
    return parser


def _run(args: argparse.Namespace) -> int:
    import anyio

    from fleet._appstring import import_app
    from fleet._logging import configure_logging
    from fleet._loop import use_uvloop
    from fleet._settings import Settings, load_settings
    from fleet._worker import serve

    overrides = {name: getattr(args, name, None) for name in Settings.model_fields}
    settings = load_settings(**overrides)
    if settings.app is None:
        raise ConfigurationError("no app given: fleet run module:attribute (or set FLEET_APP)")
    configure_logging(settings.log_level, settings.log_format)
    app = import_app(settings.app)
    return anyio.run(
        lambda: serve(app, settings, handle_signals=True),
        backend_options={"use_uvloop": use_uvloop(settings.event_loop)},
    )


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _demo_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "demo",
        help="run the whole story on a local endpoint, no AWS account needed",
        description="Start a local Step Functions endpoint in-process, create the "
        "HelloWorldActivity and a state machine whose Task state names it (HeartbeatSeconds, "
        "TimeoutSeconds, Retry on Fleet.Draining/Fleet.Interrupted), start executions on a "
        "schedule like an EventBridge rate() rule, and run the fleet on them with live "
        "progress and /metrics. Ctrl-C drains like SIGTERM on Fargate.",
    )
    parser.add_argument(
        "--every",
        type=_positive_float,
        default=1.0,
        metavar="SECONDS",
        help="the schedule's period, like rate(N seconds) (default 1)",
    )
    parser.add_argument(
        "--batch",
        type=_positive_int,
        default=5,
        metavar="N",
        help="executions the schedule starts each period (default 5)",
    )
    parser.add_argument(
        "--executions",
        type=_positive_int,
        default=None,
        metavar="N",
        help="stop scheduling after N executions (default 100, or none with --duration)",
    )
    parser.add_argument(
        "--duration",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="stop scheduling after this long (default: when --executions are started)",
    )
    parser.add_argument(
        "--work-seconds",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="how long each task's simulated work takes (default 0.5)",
    )
    parser.add_argument(
        "--fail-rate",
        type=_fraction,
        default=0.05,
        metavar="FRACTION",
        help="fraction of tasks that fail with GreetingFailed (default 0.05)",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        default=16,
        metavar="SLOTS",
        help="tasks the fleet runs at once (default 16)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=9464,
        metavar="PORT",
        help="port of /metrics, /healthz and /readyz; 0 picks one (default 9464)",
    )
    parser.add_argument("--long-poll-seconds", type=_positive_float, default=2.0,
                        metavar="SECONDS", help="how long the local endpoint holds an empty "
                        "poll (AWS: 60; shorter ends Ctrl-C and the run sooner; default 2)",
                        )  # fmt: skip


def _loadtest_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "loadtest",
        help="start executions at a steady rate and report throughput and latency",
        description="Start executions of a state machine at a steady rate (never faster than "
        "the StartExecution quota), follow them to the end, and report throughput, "
        "end-to-end latency percentiles, the time tasks waited between ActivityScheduled and "
        "ActivityStarted, and outcomes. Works against a local endpoint or real AWS.",
    )
    parser.add_argument(
        "--state-machine", required=True, metavar="ARN", help="the state machine to start"
    )
    parser.add_argument(
        "--executions",
        type=_positive_int,
        required=True,
        metavar="N",
        help="how many executions to start",
    )
    parser.add_argument(
        "--rate",
        type=_positive_float,
        required=True,
        metavar="PER_SECOND",
        help="executions started per second",
    )
    parser.add_argument(
        "--input", default="{}", metavar="JSON", help="input of every execution (default {})"
    )
    parser.add_argument(
        "--endpoint-url",
        default=None,
        metavar="URL",
        help="Step Functions endpoint, e.g. a local one",
    )
    parser.add_argument("--region", default=None, help="AWS region (default: AWS_REGION)")
    parser.add_argument(
        "--report", default=None, metavar="FILE", help="write the report as JSON to FILE"
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=600.0,
        metavar="SECONDS",
        help="stop following after this long (default 600)",
    )
    parser.add_argument("--history-sample", type=_positive_int, default=200, metavar="N",
                        help="executions whose history is read for schedule-to-start "
                        "(default 200)")  # fmt: skip


def _demo(args: argparse.Namespace) -> int:
    import anyio
    from rich.console import Console

    from fleet._demo import Demo, DemoOptions

    options = DemoOptions(
        every=args.every, batch=args.batch, duration=args.duration,
        # With neither a count nor a duration, 100 executions; with only a duration, no count.
        executions=args.executions if args.executions or args.duration else 100,
        work_seconds=args.work_seconds, fail_rate=args.fail_rate, concurrency=args.concurrency,
        metrics_port=args.metrics_port, long_poll_seconds=args.long_poll_seconds,
    )  # fmt: skip
    demo = Demo(options, Console())
    return anyio.run(demo.run)


def _loadtest(args: argparse.Namespace) -> int:
    import anyio
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from fleet._loadtest import LoadTest

    console = Console(stderr=True)
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   console=console, transient=False)  # fmt: skip
    started = bar.add_task("started", total=args.executions)
    finished = bar.add_task("finished", total=args.executions)

    def update(n_started: int, n_finished: int, total: int) -> None:
        bar.update(started, completed=n_started)
        bar.update(finished, completed=n_finished)

    test = LoadTest(
        state_machine_arn=args.state_machine, executions=args.executions, rate=args.rate,
        input=args.input, endpoint_url=args.endpoint_url, region=args.region,
        timeout_seconds=args.timeout, history_sample=args.history_sample, progress=update,
    )  # fmt: skip
    with bar:
        report = anyio.run(test.run)
    print(report.to_json())
    if args.report:
        with open(args.report, "w") as out:
            out.write(report.to_json() + "\n")
    return 0 if report.outcomes.get("RUNNING", 0) == 0 else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fleet`` console script; returns the process exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "emulator":
        from fleet.emulator._cli import main as emulator_main

        status: int = emulator_main(args[1:])
        return status
    parser = argparse.ArgumentParser(
        prog="fleet",
        description="Run AWS Step Functions activity workers as an asyncio fleet.",
    )
    parser.add_argument("--version", action="version", version=f"sfn-fleet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _run_parser(sub)
    _demo_parser(sub)
    _loadtest_parser(sub)
    sub.add_parser(
        "emulator", help="serve the Step Functions API locally (see fleet emulator --help)"
    )
    parsed = parser.parse_args(args)
    if parsed.command is None:
        parser.print_help()
        return 2
    try:
        if parsed.command == "run":
            return _run(parsed)
        if parsed.command == "demo":
            return _demo(parsed)
        if parsed.command == "loadtest":
            return _loadtest(parsed)
    except ConfigurationError as exc:
        print(f"fleet: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    parser.error(f"unknown command {parsed.command}")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
