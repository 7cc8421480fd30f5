"""Slot utilisation as CloudWatch embedded metrics, printed to stdout for awslogs to pick up.

ECS autoscaling scales out on the ``SlotUtilization`` this publishes (see ``deploy/``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import anyio

from fleet._metrics import Snapshot

_UNITS = {
    "SlotUtilization": "Percent",
    "SlotsInUse": "Count",
    "SlotsCapacity": "Count",
    "TasksInFlight": "Count",
}


def records(snap: Snapshot, namespace: str, service: str, now_ms: int) -> list[dict[str, Any]]:
    """The embedded-metric records for one sample: the process, then each activity."""

    def record(
        dimensions: list[str], values: dict[str, Any], numbers: dict[str, float]
    ) -> dict[str, Any]:
        return {
            "_aws": {
                "Timestamp": now_ms,
                "CloudWatchMetrics": [
                    {
                        "Namespace": namespace,
                        "Dimensions": [dimensions],
                        "Metrics": [{"Name": name, "Unit": _UNITS[name]} for name in numbers],
                    }
                ],
            },
            **values,
            **numbers,
        }

    def numbers(in_use: int, capacity: int, in_flight: int) -> dict[str, float]:
        # Utilisation counts tasks, not slots: a slot held by a waiting poll is idle capacity,
        # and counting it would make an idle fleet look busy to the autoscaler.
        return {
            "SlotUtilization": round(100.0 * in_flight / capacity, 2) if capacity else 0.0,
            "SlotsInUse": in_use,
            "SlotsCapacity": capacity,
            "TasksInFlight": in_flight,
        }

    # Slots are shared under one process cap, so the process's capacity is the smaller of
    # the cap and the sum of the activities' pools.
    in_use = sum(a.slots_in_use for a in snap.activities)
    capacity = sum(a.slots_capacity for a in snap.activities)
    if snap.concurrency:
        capacity = min(capacity, snap.concurrency)
    out = [
        record(
            ["ServiceName"],
            {"ServiceName": service},
            numbers(in_use, capacity, sum(a.in_flight for a in snap.activities)),
        )
    ]
    for a in snap.activities:
        out.append(
            record(
                ["ServiceName", "Activity"],
                {"ServiceName": service, "Activity": a.activity},
                numbers(a.slots_in_use, a.slots_capacity, a.in_flight),
            )
        )
    return out


async def publish(
    snapshot: Callable[[], Snapshot],
    *,
    namespace: str,
    service: str,
    interval: float,
    out: TextIO | None = None,
) -> None:
    """Print a sample every ``interval`` seconds until cancelled, and a last one then.

    The last sample carries the state at exit, so that it is not lost with the process.
    """
    stream = out or sys.stdout

    def write() -> None:
        for item in records(snapshot(), namespace, service, int(time.time() * 1000)):
            stream.write(json.dumps(item) + "\n")
        stream.flush()

    try:
        while True:
            await anyio.sleep(interval)
            write()
    finally:
        write()
