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
    from fleet._settings import Settings, load_settings
    from fleet._worker import serve

    overrides = {name: getattr(args, name, None) for name in Settings.model_fields}
    settings = load_settings(**overrides)
    if settings.app is None:
        raise ConfigurationError("no app given: fleet run module:attribute (or set FLEET_APP)")
    configure_logging(settings.log_level, settings.log_format)
    app = import_app(settings.app)
    return anyio.run(lambda: serve(app, settings, handle_signals=True))


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
    except ConfigurationError as exc:
        print(f"fleet: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    parser.error(f"unknown command {parsed.command}")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
