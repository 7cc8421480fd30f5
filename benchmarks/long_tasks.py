"""Many long tasks: 2,000 tasks in flight in one process, each waiting 20 s, heartbeat 10 s.

    python benchmarks/long_tasks.py [--tasks 2000] [--seconds 20] [--heartbeat 10] [--runs 3]

Peak RSS of the worker process (sampled every 0.2 s), heartbeats sent, heartbeat timeouts
and final statuses, for our worker (one process, slots = tasks) and the baseline (one
thread per task plus its heartbeat thread). HeartbeatSeconds in the state machine is
--heartbeat; both workers beat every 0.8x of it.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from _harness import (
    Endpoint,
    histories,
    make_machine,
    median,
    prequeue,
    save,
    start_ours,
    start_script,
)


def measure(kind: str, tasks: int, seconds: float, heartbeat: int) -> dict[str, Any]:
    with Endpoint("--long-poll-seconds", "10") as endpoint:
        activity, machine = make_machine(endpoint.url, "long", heartbeat=heartbeat)
        arns = prequeue(endpoint.url, machine, tasks, {})
        if kind == "ours":
            worker = start_ours(
                endpoint.url, "apps:sleeper", "--concurrency", str(tasks), "--max-pollers", "100",
                env={"BENCH_ACTIVITY": "long", "BENCH_SLEEP": str(seconds),
                     "BENCH_HEARTBEAT": str(heartbeat)},
            )  # fmt: skip
        else:
            worker = start_script(
                "baseline", "baseline_worker.py", endpoint.url, activity, "--threads", str(tasks),
                "--sleep", str(seconds), "--heartbeat", str(heartbeat * 0.8),
            )  # fmt: skip
        peak = 0
        began = time.monotonic()
        all_in_flight_after = None
        try:
            while True:
                stats = endpoint.stats()
                peak = max(peak, worker.rss())
                if all_in_flight_after is None and stats["tasks_handed_out"] >= tasks:
                    all_in_flight_after = time.monotonic() - began
                if stats["executions_started"] >= tasks and stats["open_executions"] == 0:
                    break
                if time.monotonic() - began > seconds * 4 + 120:
                    raise RuntimeError(f"{kind} did not finish: {stats}")
                time.sleep(0.2)
            threads = worker.process.num_threads()
            heartbeats = endpoint.stats()["requests"].get("SendTaskHeartbeat", 0)
        finally:
            worker.stop()
        events = histories(endpoint.url, arns)
    timeouts = sum(1 for history in events for e in history if e["type"] == "ActivityTimedOut")
    succeeded = sum(1 for history in events if history[-1]["type"] == "ExecutionSucceeded")
    result = {
        "worker": kind,
        "tasks": tasks,
        "peak_rss_mib": round(peak / 2**20, 1),
        "threads": threads,
        "seconds_until_all_in_flight": round(all_in_flight_after or -1, 2),
        "heartbeats": heartbeats,
        "heartbeats_per_task": round(heartbeats / tasks, 2),
        "heartbeat_timeouts": timeouts,
        "succeeded": succeeded,
    }
    print(result, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--heartbeat", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows: dict[str, list[dict[str, Any]]] = {"ours": [], "baseline": []}
    ratios = []
    for run in range(args.runs):
        order = ["ours", "baseline"] if run % 2 == 0 else ["baseline", "ours"]
        this = {kind: measure(kind, args.tasks, args.seconds, args.heartbeat) for kind in order}
        for kind, row in this.items():
            rows[kind].append(row)
        ratios.append(this["ours"]["peak_rss_mib"] / this["baseline"]["peak_rss_mib"])
    summary = {
        kind: {key: median([r[key] for r in runs])
               for key in ("peak_rss_mib", "threads", "seconds_until_all_in_flight",
                           "heartbeats_per_task", "heartbeat_timeouts", "succeeded")}
        for kind, runs in rows.items()
    }  # fmt: skip
    path = save("long_tasks", {
        "tasks": args.tasks, "seconds": args.seconds, "heartbeat_seconds": args.heartbeat,
        "runs": args.runs, "median": summary,
        "rss_ratio_ours_over_baseline": {"per_run": [round(r, 3) for r in ratios],
                                         "median": round(median(ratios), 3)},
        "raw": rows,
    })  # fmt: skip
    print(summary)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
