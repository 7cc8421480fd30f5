"""The ``fleet`` command line: ``run``, ``emulator``, ``demo``, ``loadtest`` and ``executions``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from fleet import _executions, _loadtest_cli
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
    from fleet._exit import ExitWatchdog
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
    watchdog = ExitWatchdog()
    return anyio.run(
        lambda: serve(app, settings, handle_signals=True, watchdog=watchdog),
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


def _configuration_error(exc: BaseException) -> ConfigurationError | None:
    """The ConfigurationError inside ``exc`` (possibly nested exception groups), if any."""
    if isinstance(exc, ConfigurationError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _configuration_error(inner)
            if found is not None:
                return found
    return None


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
    _loadtest_cli.add_parser(sub)
    _executions.add_parser(sub)
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
            return _loadtest_cli.run(parsed)
        if parsed.command == "executions":
            return _executions.run(parsed)
    except ConfigurationError as exc:
        print(f"fleet: error: {exc}", file=sys.stderr)
        return 2
    except BaseExceptionGroup as group:
        # A start-up error raised inside a task group (e.g. the listener) arrives wrapped.
        found = _configuration_error(group)
        if found is None:
            raise
        print(f"fleet: error: {found}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    parser.error(f"unknown command {parsed.command}")
    return 2


def entry() -> None:
    """The console script: ``main()``, then exit at once, without the interpreter's teardown.

    Teardown (joining threads, collecting modules) can take seconds after the worker has
    stopped, and a drained worker must be gone within its budget.
    """
    from fleet._exit import exit_now

    exit_now(main())


if __name__ == "__main__":
    entry()
