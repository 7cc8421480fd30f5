"""CPU per task: our worker on asyncio's loop and on uvloop, against a raw aiohttp loop.

    python benchmarks/cpu_per_task.py [--tasks 5000] [--slots 64] [--runs 3]

A trivial handler and a pre-queued backlog, as in worker_throughput.py (same endpoint,
same clock, same CPU accounting); the three take turns within each run, so that a busy
machine weighs on all alike, and the ratio to the aiohttp loop is taken within each run.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from _harness import (
    Endpoint,
    make_machine,
    median,
    prequeue,
    save,
    start_ours,
    start_script,
    wait_for,
)

KINDS = ("ours", "ours-uvloop", "aiohttp")


def measure(kind: str, tasks: int, slots: int) -> dict[str, Any]:
    with Endpoint("--long-poll-seconds", "5") as endpoint:
        activity, machine = make_machine(endpoint.url, "bench")
        prequeue(endpoint.url, machine, tasks, {"n": 1})
        if kind == "aiohttp":
            worker = start_script(kind, "aiohttp_worker.py", endpoint.url, activity,
                                  "--concurrency", str(slots))  # fmt: skip
        else:
            loop = "uvloop" if kind == "ours-uvloop" else "asyncio"
            worker = start_ours(
                endpoint.url, "apps:trivial", "--concurrency", str(slots),
                "--max-pollers", str(slots), "--event-loop", loop,
                env={"BENCH_ACTIVITY": "bench"},
            )  # fmt: skip
        try:
            if not wait_for(lambda: endpoint.stats()["tasks_handed_out"] > 0, 60, 0.01):
                raise RuntimeError(f"{kind} took no task")
            began, cpu0 = time.perf_counter(), worker.cpu_seconds()

            def done() -> bool:
                return endpoint.stats()["requests"].get("SendTaskSuccess", 0) >= tasks

            if not wait_for(done, 600, 0.02):
                raise RuntimeError(f"{kind} did not finish")
            elapsed = time.perf_counter() - began
            cpu = worker.cpu_seconds() - cpu0
        finally:
            worker.stop()
    result = {"worker": kind, "tasks": tasks, "slots": slots,
              "tasks_per_second": round(tasks / elapsed, 1),
              "cpu_us_per_task": round(cpu / tasks * 1e6, 1)}  # fmt: skip
    print(result, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--slots", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    ratios: dict[str, list[float]] = {"ours": [], "ours-uvloop": []}
    for run in range(args.runs):
        order = KINDS[run % 3 :] + KINDS[: run % 3]
        this = {kind: measure(kind, args.tasks, args.slots) for kind in order}
        for kind, row in this.items():
            rows[kind].append(row)
        for kind in ratios:
            ratios[kind].append(this[kind]["cpu_us_per_task"] / this["aiohttp"]["cpu_us_per_task"])
    summary = {
        kind: {"cpu_us_per_task": median([r["cpu_us_per_task"] for r in runs]),
               "tasks_per_second": median([r["tasks_per_second"] for r in runs])}
        for kind, runs in rows.items()
    }  # fmt: skip
    path = save("cpu_per_task", {
        "tasks": args.tasks, "slots": args.slots, "runs": args.runs, "median": summary,
        "cpu_ratio_over_aiohttp": {k: {"per_run": [round(x, 2) for x in v],
                                       "median": round(median(v), 2)}
                                   for k, v in ratios.items()},
        "raw": rows,
    })  # fmt: skip
    print(summary)
    print({k: round(median(v), 2) for k, v in ratios.items()})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
