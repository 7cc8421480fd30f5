"""Pickup latency: an idle fleet, executions started one at a time; the time from
ActivityScheduled to ActivityStarted in each execution's history, p50 and p99, and the round
trip to ActivitySucceeded (a trivial handler), which includes the worker's own share.

    python benchmarks/pickup_latency.py [--executions 200] [--runs 3]

The endpoint holds polls 60 s, as AWS does, so an idle worker has polls waiting when each
execution starts. Ours runs with its defaults (one poller while idle); the baseline with 64
poller threads.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from typing import Any

from _harness import Endpoint, call, make_machine, median, save, start_ours, start_script, wait_for

from fleet._loadtest import percentiles


def ms(values: list[float], key: str) -> float:
    """A percentile (nearest rank) of ``values`` in milliseconds."""
    value = percentiles(values)[key]
    return round((value or 0.0) * 1000, 2)


def measure(kind: str, executions: int) -> dict[str, Any]:
    with Endpoint() as endpoint:
        activity, machine = make_machine(endpoint.url, "pickup")
        if kind == "ours":
            worker = start_ours(endpoint.url, "apps:trivial", env={"BENCH_ACTIVITY": "pickup"})
        else:
            worker = start_script("baseline", "baseline_worker.py", endpoint.url, activity,
                                  "--threads", "64")  # fmt: skip
        try:
            if not wait_for(lambda: endpoint.stats()["polls_waiting"] > 0, 60):
                raise RuntimeError(f"{kind} is not polling")
            time.sleep(1.0)  # idle: every poller is waiting
            waits: list[float] = []
            round_trips: list[float] = []
            for _ in range(executions):
                arn = call(endpoint.url, "StartExecution", {"stateMachineArn": machine})[
                    "executionArn"
                ]
                wait_for(lambda arn=arn: call(endpoint.url, "DescribeExecution",
                                              {"executionArn": arn})["status"] != "RUNNING",
                         30, 0.005)  # fmt: skip
                events = call(endpoint.url, "GetExecutionHistory", {"executionArn": arn})["events"]
                stamp = {e["type"]: e["timestamp"] for e in events}
                waits.append(stamp["ActivityStarted"] - stamp["ActivityScheduled"])
                round_trips.append(stamp["ActivitySucceeded"] - stamp["ActivityScheduled"])
                time.sleep(0.02)
        finally:
            worker.stop()
    result = {
        "worker": kind,
        "executions": executions,
        "p50_ms": ms(waits, "p50"),
        "p99_ms": ms(waits, "p99"),
        "max_ms": ms(waits, "max"),
        "round_trip_p50_ms": ms(round_trips, "p50"),
        "round_trip_p99_ms": ms(round_trips, "p99"),
    }
    print(result, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows: dict[str, list[dict[str, Any]]] = {"ours": [], "baseline": []}
    for run in range(args.runs):
        for kind in ["ours", "baseline"] if run % 2 == 0 else ["baseline", "ours"]:
            rows[kind].append(measure(kind, args.executions))
    keys = ("p50_ms", "p99_ms", "max_ms", "round_trip_p50_ms", "round_trip_p99_ms")
    summary = {kind: {key: median([r[key] for r in runs]) for key in keys}
               for kind, runs in rows.items()}  # fmt: skip
    path = save(
        "pickup_latency",
        {
            "executions": args.executions,
            "runs": args.runs,
            "median": summary,
            "raw": rows,
            "when": datetime.now().isoformat(),
        },
    )
    print(summary)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
