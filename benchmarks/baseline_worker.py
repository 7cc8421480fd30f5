"""The baseline: an activity worker in the shape of AWS's own samples.

boto3, one thread per poller, poll-then-run (each poller runs the task it receives), and one
heartbeat thread that beats every running task's token at a fixed interval (the Ruby
sample's HeartbeatWorker). Like the samples, it has no drain: SIGTERM ends the process.

    python baseline_worker.py URL ACTIVITY_ARN --threads 64 [--sleep S] [--heartbeat S]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
import time

import boto3
from botocore.config import Config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("activity_arn")
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--heartbeat", type=float, default=0.0, help="interval; 0 = none")
    args = parser.parse_args()
    client = boto3.client(
        "stepfunctions", endpoint_url=args.url,
        # The samples' advice: a read timeout above the 60 s poll, a pool for every thread.
        config=Config(read_timeout=70, max_pool_connections=args.threads + 2,
                      retries={"max_attempts": 3}),
    )  # fmt: skip
    running: set[str] = set()
    lock = threading.Lock()

    def poller() -> None:
        while True:
            try:
                task = client.get_activity_task(
                    activityArn=args.activity_arn, workerName="baseline"
                )
            except Exception:
                time.sleep(1)
                continue
            token = task.get("taskToken")
            if not token:
                continue
            with lock:
                running.add(token)
            try:
                if args.sleep:
                    time.sleep(args.sleep)
                client.send_task_success(taskToken=token, output=json.dumps({"ok": True}))
            except Exception as exc:
                with contextlib.suppress(Exception):  # as the samples do: log and go on
                    client.send_task_failure(taskToken=token, error=type(exc).__name__)
            finally:
                with lock:
                    running.discard(token)

    def heartbeater() -> None:
        while True:
            time.sleep(args.heartbeat)
            with lock:
                tokens = list(running)
            for token in tokens:
                with contextlib.suppress(Exception):  # the samples only log a failed heartbeat
                    client.send_task_heartbeat(taskToken=token)

    threads = [threading.Thread(target=poller, daemon=True) for _ in range(args.threads)]
    if args.heartbeat:
        threads.append(threading.Thread(target=heartbeater, daemon=True))
    for thread in threads:
        thread.start()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
