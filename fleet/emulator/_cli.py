"""`fleet emulator`: serve the Step Functions API locally until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from fleet._limits import MAX_POLLERS_PER_ACTIVITY
from fleet.emulator._emulator import Emulator
from fleet.emulator._mocks import MockConfig
from fleet.emulator._options import FAULT_KINDS, EmulatorOptions


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fleet emulator",
        description="Serve the AWS Step Functions API (activities, state machines, executions) "
        "over the real AWS JSON 1.0 wire protocol. The defaults follow AWS where a worker can "
        "notice: API token buckets, 60 s long polls, lost polls, SigV4-signed requests (any key "
        "is accepted and signatures are not verified). Options below can make runs kinder or "
        "faster.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    add("--port", type=int, default=8083, help="port to listen on, 0 for a free one (default 8083)")
    add(
        "--time-scale",
        type=float,
        default=1.0,
        help="speed-up of service clocks: TimeoutSeconds, HeartbeatSeconds, Wait, Retry",
    )
    add(
        "--long-poll-seconds",
        type=float,
        default=60.0,
        help="how long GetActivityTask is held when no task is ready (default 60)",
    )
    add(
        "--throttle",
        choices=["aws", "large", "other", "none"],
        default="aws",
        help="token-bucket throttling with AWS's quotas: aws picks the large- or other-region "
        "buckets by the caller's region (default aws); none turns throttling off",
    )
    add(
        "--fault-rate",
        type=float,
        default=0.0,
        help="fraction of API calls answered with an injected fault (default 0)",
    )
    add(
        "--fault-kinds",
        default="500,drop",
        help=f"comma-separated faults to pick from: {','.join(FAULT_KINDS)} (default 500,drop)",
    )
    add("--latency", type=float, default=0.0, help="seconds of latency added before every answer")
    add(
        "--lost-polls",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a long poll whose client went away still takes a task, as AWS does (default); "
        "--no-lost-polls drops such polls, so no task is lost to them",
    )
    add(
        "--max-pollers",
        type=int,
        default=MAX_POLLERS_PER_ACTIVITY,
        help="concurrent polls per activity before ActivityWorkerLimitExceeded (default "
        f"{MAX_POLLERS_PER_ACTIVITY})",
    )
    add("--account-id", default="123456789012", help="account id in every ARN")
    add("--seed", type=int, default=None, help="seed for fault and jitter randomness")
    add("--console", action="store_true", help="serve the local console's web pages at /console")
    add(
        "--mock-config",
        metavar="FILE",
        default=None,
        help="Step Functions Local mock configuration (JSON) answering Task states whose "
        "resource is not an activity; pick a test case with <stateMachineArn>#<TestCase>",
    )
    return parser


def main(argv: list[str]) -> int:
    """Run the endpoint until SIGINT/SIGTERM; returns the exit status (2 for bad options)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        options = EmulatorOptions(
            time_scale=args.time_scale,
            long_poll_seconds=args.long_poll_seconds,
            throttle=None if args.throttle == "none" else args.throttle,
            fault_rate=args.fault_rate,
            fault_kinds=tuple(k.strip() for k in args.fault_kinds.split(",") if k.strip()),
            latency_seconds=args.latency,
            lost_polls=args.lost_polls,
            max_pollers_per_activity=args.max_pollers,
            account_id=args.account_id,
            seed=args.seed,
            mock_config=args.mock_config,
        )
        if options.mock_config is not None:
            MockConfig.load(options.mock_config)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        asyncio.run(_serve(options, args.host, args.port, args.console))
    except OSError as exc:
        print(f"fleet emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(options: EmulatorOptions, host: str, port: int, console: bool) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with Emulator(options, host, port, console=console) as emulator:
            print(f"fleet emulator: listening on {emulator.endpoint_url}", flush=True)
            if console:
                print(f"fleet emulator: console at {emulator.console_url}", flush=True)
            await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
