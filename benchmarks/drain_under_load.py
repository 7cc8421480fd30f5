"""Draining under load: 500 tasks in flight, SIGTERM; time to exit and tasks lost, then a
second worker and how many executions end SUCCEEDED. The baseline in the same scenario.

    python benchmarks/drain_under_load.py [--tasks 500] [--drain-seconds 20] [--heartbeat 10]

The tasks' first attempt waits 120 s (longer than any drain budget), so every one of them
is running when SIGTERM arrives. A task is *lost* when the worker that started it never
reported it: its history shows ActivityTimedOut, and it came back only after HeartbeatSeconds
(the state machine retries on Fleet.Draining, Fleet.Interrupted and States.Timeout). Our
worker runs with a short drain budget so the benchmark is quick (production: 100 s).
"""

from __future__ import annotations

import argparse
import signal
import time
from typing import Any

from _harness import (
    Endpoint,
    histories,
    make_machine,
    save,
    start_ours,
    start_script,
    wait_for,
)


def measure(kind: str, tasks: int, drain: float, heartbeat: int) -> dict[str, Any]:
    env = {"BENCH_ACTIVITY": "drain", "BENCH_SLEEP": "120", "BENCH_HEARTBEAT": str(heartbeat)}
    with Endpoint("--long-poll-seconds", "20") as endpoint:
        activity, machine = make_machine(endpoint.url, "drain", heartbeat=heartbeat, retry=True,
                                         context=True)  # fmt: skip
        from _harness import prequeue

        arns = prequeue(endpoint.url, machine, tasks, {})
        if kind == "ours":
            first = start_ours(
                endpoint.url, "apps:drainer", "--concurrency", str(tasks), "--max-pollers", "100",
                "--drain-seconds", str(drain), "--drain-reserve-seconds", str(max(2.0, drain / 4)),
                env=env,
            )  # fmt: skip
        else:
            first = start_script("baseline", "baseline_worker.py", endpoint.url, activity,
                                 "--threads", str(tasks), "--sleep", "120",
                                 "--heartbeat", str(heartbeat * 0.8))  # fmt: skip
        if not wait_for(lambda: endpoint.stats()["tasks_handed_out"] >= tasks, 120):
            first.stop(signal.SIGKILL)
            raise RuntimeError(f"{kind} did not take {tasks} tasks")
        signalled = time.monotonic()
        status = first.stop(signal.SIGTERM, timeout=drain + 30)
        exit_seconds = time.monotonic() - signalled
        second = start_ours(endpoint.url, "apps:drainer", "--concurrency", str(tasks),
                            "--max-pollers", "100", env=env)  # fmt: skip
        try:

            def all_done() -> bool:
                stats = endpoint.stats()
                return bool(stats["open_executions"] == 0)

            wait_for(all_done, heartbeat * 4 + 120, 0.2)
            recovered = time.monotonic() - signalled
        finally:
            second.stop()
        events = histories(endpoint.url, arns)
    lost = sum(1 for h in events if any(e["type"] == "ActivityTimedOut" for e in h))
    failed_back = sum(1 for h in events if any(e["type"] == "ActivityFailed" for e in h))
    succeeded = sum(1 for h in events if h[-1]["type"] == "ExecutionSucceeded")
    result = {
        "worker": kind,
        "tasks_in_flight": tasks,
        "exit_status": status,
        "seconds_to_exit": round(exit_seconds, 2),
        "tasks_lost": lost,
        "tasks_failed_back": failed_back,
        "executions_succeeded": succeeded,
        "seconds_until_all_succeeded": round(recovered, 2),
    }
    print(result, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--drain-seconds", type=float, default=20.0)
    parser.add_argument("--heartbeat", type=int, default=10)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    rows = [measure(kind, args.tasks, args.drain_seconds, args.heartbeat)
            for _ in range(args.runs) for kind in ("ours", "baseline")]  # fmt: skip
    path = save(
        "drain_under_load",
        {
            "tasks": args.tasks,
            "drain_seconds": args.drain_seconds,
            "heartbeat_seconds": args.heartbeat,
            "results": rows,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
