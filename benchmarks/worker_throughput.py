"""Throughput: a pre-queued backlog, a trivial handler, N slots; tasks per second and CPU
microseconds per task for our worker, the AWS-sample-shaped baseline and the raw floor.

    python benchmarks/worker_throughput.py [--tasks 5000] [--slots 64] [--runs 5]
        [--sweep 4,8,16,32,64,128 --sweep-tasks 2000 --sweep-runs 3]

Each measurement gets a fresh endpoint process (``fleet emulator``) with the backlog queued
before the worker starts; the clock runs from the first task handed out to the last
SendTaskSuccess, as the endpoint counts them; CPU is the worker process's user+system time
over the same span. The three workers take turns within each run, so noise hits all alike.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from _harness import (
    Endpoint,
    Worker,
    make_machine,
    median,
    prequeue,
    save,
    start_ours,
    start_script,
    wait_for,
)


def launch(kind: str, url: str, activity: str, slots: int, sleep: float = 0.0) -> Worker:
    if kind == "ours":
        return start_ours(
            url, "apps:sleeper" if sleep else "apps:trivial", "--concurrency", str(slots),
            "--max-pollers", str(min(slots, 64)),
            env={"BENCH_ACTIVITY": "bench", "BENCH_SLEEP": str(sleep)},
        )  # fmt: skip
    if kind == "baseline":
        return start_script("baseline", "baseline_worker.py", url, activity,
                            "--threads", str(slots), "--sleep", str(sleep))  # fmt: skip
    return start_script("floor", "floor_worker.py", url, activity, "--concurrency", str(slots))


def measure(kind: str, tasks: int, slots: int, sleep: float = 0.0) -> dict[str, Any]:
    with Endpoint("--long-poll-seconds", "5") as endpoint:
        activity, machine = make_machine(endpoint.url, "bench")
        prequeue(endpoint.url, machine, tasks, {"n": 1})
        worker = launch(kind, endpoint.url, activity, slots, sleep)
        try:
            if not wait_for(lambda: endpoint.stats()["tasks_handed_out"] > 0, 60, 0.01):
                raise RuntimeError(f"{kind} took no task")
            began, cpu0 = time.perf_counter(), worker.cpu_seconds()
            endpoint_cpu0 = Worker(_process(endpoint), "endpoint").cpu_seconds()

            def done() -> bool:
                return endpoint.stats()["requests"].get("SendTaskSuccess", 0) >= tasks

            if not wait_for(done, 600, 0.02):
                raise RuntimeError(f"{kind} did not finish")
            elapsed = time.perf_counter() - began
            cpu = worker.cpu_seconds() - cpu0
            endpoint_cpu = Worker(_process(endpoint), "endpoint").cpu_seconds() - endpoint_cpu0
            rss = worker.rss()
        finally:
            worker.stop()
    return {
        "worker": kind,
        "slots": slots,
        "handler_sleep_seconds": sleep,
        "tasks": tasks,
        "seconds": round(elapsed, 3),
        "tasks_per_second": round(tasks / elapsed, 1),
        "cpu_us_per_task": round(cpu / tasks * 1e6, 1),
        "endpoint_cpu_us_per_task": round(endpoint_cpu / tasks * 1e6, 1),
        "rss_mib": round(rss / 2**20, 1),
    }


def _process(endpoint: Endpoint) -> Any:
    import psutil

    return psutil.Process(endpoint.process.pid)


def series(
    kinds: list[str], tasks: int, slots: int, runs: int, sleep: float = 0.0
) -> dict[str, Any]:
    results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    ratios = []
    for run in range(runs):
        order = kinds[run % len(kinds) :] + kinds[: run % len(kinds)]
        this_run = {}
        for kind in order:
            result = measure(kind, tasks, slots, sleep)
            results[kind].append(result)
            this_run[kind] = result
            print(f"run {run + 1}/{runs} slots={slots} sleep={sleep} {kind:8} "
                  f"{result['tasks_per_second']:8.1f} tasks/s "
                  f"{result['cpu_us_per_task']:7.1f} us/task", flush=True)  # fmt: skip
        if "ours" in this_run and "baseline" in this_run:
            ratios.append(this_run["ours"]["tasks_per_second"]
                          / this_run["baseline"]["tasks_per_second"])  # fmt: skip
    summary = {
        kind: {
            "tasks_per_second": median([r["tasks_per_second"] for r in rows]),
            "cpu_us_per_task": median([r["cpu_us_per_task"] for r in rows]),
            "endpoint_cpu_us_per_task": median([r["endpoint_cpu_us_per_task"] for r in rows]),
            "rss_mib": median([r["rss_mib"] for r in rows]),
        }
        for kind, rows in results.items()
    }
    return {"slots": slots, "tasks": tasks, "runs": runs, "handler_sleep_seconds": sleep,
            "median": summary,
            "ratio_ours_over_baseline": {"per_run": [round(r, 2) for r in ratios],
                                         "median": round(median(ratios), 2) if ratios else None},
            "raw": results}  # fmt: skip


def plot(sweeps: dict[float, list[dict[str, Any]]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    colours = {"ours": "tab:blue", "baseline": "tab:orange"}
    names = {"ours": "sfn-fleet", "baseline": "baseline (boto3 threads)"}
    for sleep, sweep in sweeps.items():
        style = "-" if sleep == 0 else "--"
        work = "trivial handler" if sleep == 0 else f"handler waits {sleep * 1000:g} ms"
        for kind in ("ours", "baseline"):
            xs = [point["slots"] for point in sweep]
            ys = [point["median"][kind]["tasks_per_second"] for point in sweep]
            ax.plot(xs, ys, style, marker="o", color=colours[kind], label=f"{names[kind]}, {work}")
    first = next(iter(sweeps.values()))
    ax.set_xscale("log", base=2)
    ax.set_xticks([point["slots"] for point in first])
    ax.set_xticklabels([str(point["slots"]) for point in first])
    ax.set_xlabel("slots (concurrent tasks in one worker process)")
    ax.set_ylabel("tasks per second (median)")
    ax.set_title("Throughput against slots, one process, 2 cores")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--slots", type=int, default=64)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sweep", default="", help="comma-separated slot counts to plot")
    parser.add_argument("--sweep-tasks", type=int, default=2000)
    parser.add_argument("--sweep-runs", type=int, default=3)
    parser.add_argument("--sweep-sleep", default="0,0.02",
                        help="comma-separated handler waits (seconds) to sweep")  # fmt: skip
    args = parser.parse_args()
    headline = series(["ours", "baseline", "floor"], args.tasks, args.slots, args.runs)
    data: dict[str, Any] = {"headline": headline}
    if args.sweep:
        sweeps = {
            float(sleep): [
                series(["ours", "baseline"], args.sweep_tasks, int(slots), args.sweep_runs,
                       float(sleep))
                for slots in args.sweep.split(",")
            ]
            for sleep in args.sweep_sleep.split(",")
        }  # fmt: skip
        data["sweep"] = {str(sleep): points for sleep, points in sweeps.items()}
        from _harness import HERE

        plot(sweeps, str(HERE / "throughput_vs_slots.png"))
    path = save("worker_throughput", data)
    m = headline["median"]
    print(f"\nmedians over {args.runs} runs, {args.tasks} tasks, {args.slots} slots:")
    for kind in ("ours", "baseline", "floor"):
        print(f"  {kind:8} {m[kind]['tasks_per_second']:8.1f} tasks/s "
              f"{m[kind]['cpu_us_per_task']:7.1f} us/task")  # fmt: skip
    print(f"  ours/baseline (median of per-run ratios): "
          f"{headline['ratio_ours_over_baseline']['median']}")  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
