"""The `fleet` command line: run, emulator, demo, loadtest."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fleet._version import __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `fleet` console script; returns the process exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="fleet",
        description="Run AWS Step Functions activity workers as an asyncio fleet.",
    )
    parser.add_argument("--version", action="version", version=f"sfn-fleet {__version__}")
    parser.add_argument(
        "command",
        choices=["emulator"],
        help="emulator: serve the Step Functions API locally",
    )
    if not args or args[0].startswith("-"):
        parser.parse_args(args)
        parser.print_help()
        return 2
    command, rest = args[0], args[1:]
    if command == "emulator":
        from fleet.emulator._cli import main as emulator_main

        return emulator_main(rest)
    parser.parse_args(args)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
