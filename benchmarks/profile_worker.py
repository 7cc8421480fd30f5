"""Where our worker's CPU per task goes: the throughput benchmark under cProfile, with the
time grouped by the package it was spent in.

    python benchmarks/profile_worker.py [--tasks 4000] [--slots 64]

The worker runs in this process (so the profiler sees it) against an endpoint process;
profiling slows everything down, so read the shares, not the absolute times.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time
from collections import Counter

import anyio
from _harness import ENV, Endpoint, make_machine, prequeue, save

GROUPS = (
    ("aiohttp", "aiohttp client (request building, response parsing)"),
    ("multidict", "aiohttp client (request building, response parsing)"),
    ("yarl", "aiohttp client (request building, response parsing)"),
    ("fleet/_sigv4", "SigV4 signing"),
    ("hashlib", "SigV4 signing"),
    ("hmac", "SigV4 signing"),
    ("json", "JSON"),
    ("prometheus_client", "metrics"),
    ("anyio", "anyio (task groups, cancel scopes)"),
    ("asyncio", "asyncio event loop and sockets"),
    ("selectors", "asyncio event loop and sockets"),
    ("socket", "asyncio event loop and sockets"),
    ("fleet/", "the runtime itself (pollers, runner, reporting)"),
    ("logging", "logging"),
)


def group(filename: str, name: str) -> str:
    where = f"{filename}:{name}"
    if filename == "~":  # a built-in: attribute by its name
        if "socket" in name or "epoll" in name or "select" in name:
            return "asyncio event loop and sockets"
        if "hmac" in name or "sha256" in name or "openssl" in name or "digest" in name:
            return "SigV4 signing"
        if "json" in name or "encode" in name or "decode" in name:
            return "JSON"
    for marker, label in GROUPS:
        if marker in where:
            return label
    return "other (builtins, contextvars, ...)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=4000)
    parser.add_argument("--slots", type=int, default=64)
    args = parser.parse_args()
    os.environ.update({k: v for k, v in ENV.items() if k.startswith("AWS_")})
    from fleet import Fleet, Task
    from fleet._settings import Settings
    from fleet._supervisor import Supervisor
    from fleet._worker import serve

    app = Fleet()

    @app.activity("bench")
    async def nothing(task: Task) -> dict[str, bool]:
        return {"ok": True}

    with Endpoint("--long-poll-seconds", "2") as endpoint:
        _, machine = make_machine(endpoint.url, "bench")
        prequeue(endpoint.url, machine, args.tasks, {"n": 1})
        settings = Settings(
            endpoint_url=endpoint.url, region="us-east-1", concurrency=args.slots,
            max_pollers=min(args.slots, 64), metrics_port=0, log_level="WARNING",
            task_protection="off",
        )  # fmt: skip
        profile = cProfile.Profile()
        result: dict[str, float] = {}

        async def measure(sup: Supervisor, port: int) -> None:
            began, cpu = time.perf_counter(), time.process_time()
            profile.enable()
            while True:
                done = sup.metrics.total(
                    "fleet_tasks_completed_total", activity="bench", outcome="succeeded"
                )
                if (done or 0) >= args.tasks:
                    break
                await anyio.sleep(0.05)
            profile.disable()
            result["seconds"] = time.perf_counter() - began
            result["cpu"] = time.process_time() - cpu
            sup.drain("profiled", immediate=True)

        anyio.run(lambda: serve(app, settings, on_started=measure))
    stats = pstats.Stats(profile)
    shares: Counter[str] = Counter()
    for (filename, _, name), row in stats.stats.items():  # type: ignore[attr-defined]
        shares[group(filename, name)] += row[2]  # tottime
    total = sum(shares.values())
    breakdown = {label: round(100 * seconds / total, 1) for label, seconds in shares.most_common()}
    print(f"{args.tasks} tasks, profiled: {result['cpu'] / args.tasks * 1e6:.0f} us CPU per task")
    for label, share in breakdown.items():
        print(f"  {share:5.1f}%  {label}")
    save("profile_worker", {"tasks": args.tasks, "slots": args.slots,
                            "profiled_cpu_us_per_task": round(result["cpu"] / args.tasks * 1e6),
                            "share_percent": breakdown})  # fmt: skip


if __name__ == "__main__":
    main()
