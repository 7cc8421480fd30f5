"""Tasks in flight against AWS's heartbeat quota, on the local endpoint with its buckets on.

    python benchmarks/heartbeat_quota.py --tasks 100000 --heartbeat 300 --seconds 660
    python benchmarks/heartbeat_quota.py --tasks 26000 --processes 4 --heartbeat 60 \\
        --seconds 240 --schedules late:125,fixed
    python benchmarks/heartbeat_quota.py --tasks 10500 --heartbeat 20 --seconds 80 \\
        --throttle other --api-rate 300 --schedules late,fixed

The executions are started with throttling off (only the workers' calls are measured), then
the endpoint's buckets go on (``--throttle``: AWS's large-region quotas, or the other
regions'), and ``--processes`` workers of ours (``fleet run``) take every task at once: each
handler waits ``--seconds``, in a state machine with HeartbeatSeconds ``--heartbeat`` and no
Retry, so a heartbeat that comes too late fails its execution. For each ``--schedules`` entry
(the worker's ``FLEET_HEARTBEAT_SCHEDULE``, with ``:RATE`` for that run's ``FLEET_API_RATE``
in place of ``--api-rate``) the run records the executions' final statuses, ActivityTimedOut
count, beats sent / throttled, the lowest slack bucket a beat landed in, the worst event-loop
lag any worker reported (overall, and while it had tasks in flight), peak RSS per in-flight
task and CPU per task.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from _harness import OUT, Endpoint, call, make_machine, prequeue, save, start_ours

#: Worker metrics ports: the benchmark's own range.
BASE_PORT = 18650
_SAMPLE = re.compile(r"^([a-z_]+)(?:\{([^}]*)\})? ([0-9.e+-]+|NaN|[+-]Inf)$")


def set_options(url: str, **changes: Any) -> None:
    request = urllib.request.Request(
        f"{url}/_emulator/options", data=json.dumps(changes).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=30):
        pass


def scrape(port: int) -> list[tuple[str, dict[str, str], float]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        text = response.read().decode()
    samples = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
            samples.append((match.group(1), labels, float(match.group(3))))
    return samples


def total(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(
        value
        for sample, have, value in samples
        if sample == name and all(have.get(k) == v for k, v in labels.items())
    )


def count_statuses(url: str, machine: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "RUNNING"):
        params: dict[str, Any] = {
            "stateMachineArn": machine, "statusFilter": status, "maxResults": 1000,
        }  # fmt: skip
        n = 0
        while True:
            page = call(url, "ListExecutions", params)
            n += len(page["executions"])
            if not page.get("nextToken"):
                break
            params["nextToken"] = page["nextToken"]
        counts[status] = n
    return counts


def failure_causes(url: str, machine: str, limit: int = 20) -> dict[str, int]:
    """The history error of a sample of the failed executions."""
    page = call(url, "ListExecutions", {
        "stateMachineArn": machine, "statusFilter": "FAILED", "maxResults": limit,
    })  # fmt: skip
    causes: dict[str, int] = {}
    for execution in page["executions"]:
        events = call(url, "GetExecutionHistory", {
            "executionArn": execution["executionArn"], "maxResults": 1000,
        })["events"]  # fmt: skip
        kinds = [e["type"] for e in events if e["type"].startswith("Activity")]
        key = kinds[-1] if kinds else "none"
        causes[key] = causes.get(key, 0) + 1
    return causes


def measure(args: argparse.Namespace, entry: str) -> dict[str, Any]:
    schedule, _, rate = entry.partition(":")
    api_rate = float(rate) if rate else args.api_rate
    processes, tasks = args.processes, args.tasks
    per_process = -(-tasks // processes)
    with Endpoint("--long-poll-seconds", "10") as endpoint:
        _, machine = make_machine(endpoint.url, "quota", heartbeat=args.heartbeat)
        began = time.monotonic()
        prequeue(endpoint.url, machine, tasks, {})
        queued_seconds = time.monotonic() - began
        set_options(endpoint.url, throttle=args.throttle)
        logs = OUT / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        flags = [
            "--concurrency", str(per_process), "--max-pollers", str(args.max_pollers),
            "--heartbeat-schedule", schedule, "--log-level", "WARNING",
        ]  # fmt: skip
        if api_rate:
            flags += ["--api-rate", str(api_rate)]
        workers = []
        for index in range(processes):
            port = args.base_port + index
            worker = start_ours(
                endpoint.url, "apps:sleeper", *flags, "--metrics-port", str(port),
                env={"BENCH_ACTIVITY": "quota", "BENCH_SLEEP": str(args.seconds),
                     "BENCH_HEARTBEAT": str(args.heartbeat)},
            )  # fmt: skip
            workers.append((worker, port))
        started = time.monotonic()
        peak_rss = [0] * processes
        worst_lag = worst_lag_busy = 0.0
        # The lag gauge is the worst of the last 15 s: it counts as "while tasks ran" only when
        # the worker had tasks in flight at this scrape and at every scrape of the 16 s before.
        busy_since: list[float | None] = [None] * processes
        all_in_flight_after = None
        last_scrapes: list[list[tuple[str, dict[str, str], float]]] = [[] for _ in workers]
        try:
            while True:
                stats = endpoint.stats()
                for index, (worker, port) in enumerate(workers):
                    peak_rss[index] = max(peak_rss[index], worker.rss())
                    try:
                        last_scrapes[index] = scrape(port)
                    except OSError:
                        continue
                    lag = total(last_scrapes[index], "fleet_event_loop_lag_seconds")
                    worst_lag = max(worst_lag, lag)
                    now = time.monotonic()
                    if total(last_scrapes[index], "fleet_tasks_in_flight") > 0:
                        since = busy_since[index] = busy_since[index] or now
                        if now - since >= 16:
                            worst_lag_busy = max(worst_lag_busy, lag)
                    else:
                        busy_since[index] = None
                if all_in_flight_after is None and stats["tasks_handed_out"] >= tasks:
                    all_in_flight_after = time.monotonic() - started
                if stats["open_executions"] == 0:
                    break
                if time.monotonic() - started > args.seconds * 3 + 600:
                    raise RuntimeError(f"the run did not finish: {stats}")
                time.sleep(2.0)
            elapsed = time.monotonic() - started
            for index, (_, port) in enumerate(workers):
                last_scrapes[index] = scrape(port)
            cpu = sum(worker.cpu_seconds() for worker, _ in workers)
        finally:
            for worker, _ in workers:
                worker.stop()
        final = endpoint.stats()
        set_options(endpoint.url, throttle=None)
        statuses = count_statuses(endpoint.url, machine)
        causes = failure_causes(endpoint.url, machine) if statuses["FAILED"] else {}
    samples = [s for scrape_ in last_scrapes for s in scrape_]
    slack = sorted(
        (float(labels["le"]), value)
        for name, labels, value in samples
        if name == "fleet_heartbeat_slack_seconds_bucket" and labels.get("le") != "+Inf"
    )
    buckets: dict[float, float] = {}
    for le, value in slack:
        buckets[le] = buckets.get(le, 0) + value
    lowest = next((le for le, value in sorted(buckets.items()) if value > 0), None)
    result = {
        "schedule": schedule,
        "tasks": tasks,
        "processes": processes,
        "heartbeat_seconds": args.heartbeat,
        "handler_seconds": args.seconds,
        "throttle": args.throttle,
        "api_rate": api_rate,
        "queued_seconds": round(queued_seconds, 1),
        "seconds_until_all_in_flight": round(all_in_flight_after or -1, 1),
        "run_seconds": round(elapsed, 1),
        "statuses": statuses,
        "sampled_failure_ends": causes,
        "heartbeats_ok": total(samples, "fleet_heartbeats_total", result="ok"),
        "heartbeats_throttled": total(samples, "fleet_heartbeats_total", result="throttled"),
        "heartbeats_task_gone": total(samples, "fleet_heartbeats_total", result="task_gone"),
        "heartbeats_error": total(samples, "fleet_heartbeats_total", result="error"),
        "endpoint_requests": final["requests"],
        "endpoint_throttled": final["throttled"],
        "slack_lowest_bucket_le": lowest,
        "slack_buckets": buckets,
        "worst_loop_lag_seconds": round(worst_lag, 3),
        "worst_loop_lag_while_tasks_ran_seconds": round(worst_lag_busy, 3),
        "peak_rss_mib": [round(r / 2**20, 1) for r in peak_rss],
        "peak_rss_kib_per_task": round(sum(peak_rss) / 1024 / tasks, 2),
        "cpu_seconds": round(cpu, 1),
        "cpu_ms_per_task": round(cpu * 1000 / tasks, 3),
    }
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=26_000)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--heartbeat", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--throttle", choices=("large", "other"), default="large")
    parser.add_argument("--api-rate", type=float, default=None)
    parser.add_argument("--max-pollers", type=int, default=100)
    parser.add_argument(
        "--schedules", default="late", help="comma-separated SCHEDULE[:API_RATE] runs, in order"
    )
    parser.add_argument("--name", default="heartbeat_quota")
    parser.add_argument("--base-port", type=int, default=BASE_PORT, help="first metrics port")
    args = parser.parse_args()
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    rows = [measure(args, schedule) for schedule in args.schedules.split(",")]
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    path = save(args.name, {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "load_average_before": load_before, "load_average_after": load_after,
        "runs": rows,
    })  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
