"""Memory of a worker that runs short tasks without pause: does it hold on to ended tasks?

    python benchmarks/steady_memory.py [--tasks 120000] [--slots 64] [--heartbeat 60]

A backlog of trivial tasks (HeartbeatSeconds ``--heartbeat`` for the worker's beats), one
``fleet run`` with ``--slots`` slots taking them as fast as it can; the worker's RSS is
sampled every 5 s against the tasks handed out so far. A worker that keeps each ended task's
state for a while grows with the rate times that while; one that lets go stays flat.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from _harness import Endpoint, make_machine, prequeue, save, start_ours


def measure(tasks: int, slots: int, heartbeat: int) -> dict[str, Any]:
    with Endpoint("--long-poll-seconds", "1") as endpoint:
        _, machine = make_machine(endpoint.url, "steady")
        prequeue(endpoint.url, machine, tasks, {})
        worker = start_ours(
            endpoint.url, "apps:trivial", "--concurrency", str(slots),
            "--heartbeat-seconds", str(heartbeat), "--log-level", "WARNING",
            env={"BENCH_ACTIVITY": "steady"},
        )  # fmt: skip
        started = time.monotonic()
        samples = []
        try:
            while True:
                stats = endpoint.stats()
                samples.append({
                    "seconds": round(time.monotonic() - started, 1),
                    "tasks_handed_out": stats["tasks_handed_out"],
                    "rss_mib": round(worker.rss() / 2**20, 1),
                })  # fmt: skip
                if stats["open_executions"] == 0:
                    break
                time.sleep(5.0)
        finally:
            worker.stop()
    first = next((s for s in samples if s["tasks_handed_out"] >= tasks * 0.2), samples[0])
    last = samples[-1]
    grown = last["rss_mib"] - first["rss_mib"]
    between = max(1, last["tasks_handed_out"] - first["tasks_handed_out"])
    result = {
        "tasks": tasks,
        "slots": slots,
        "heartbeat_seconds": heartbeat,
        "rss_mib_at_20_percent": first["rss_mib"],
        "rss_mib_at_end": last["rss_mib"],
        "kib_grown_per_1000_tasks": round(grown * 1024 / between * 1000, 1),
        "samples": samples,
    }
    print({k: v for k, v in result.items() if k != "samples"}, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=120_000)
    parser.add_argument("--slots", type=int, default=64)
    parser.add_argument("--heartbeat", type=int, default=60)
    args = parser.parse_args()
    result = measure(args.tasks, args.slots, args.heartbeat)
    print(f"wrote {save('steady_memory', {'command': vars(args), **result})}")


if __name__ == "__main__":
    main()
