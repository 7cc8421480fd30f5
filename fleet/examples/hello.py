"""The HelloWorld recipe: a greeting activity that can also simulate long or failing work.

Input (all optional)::

    {"who": "world", "work_seconds": 0.0, "fail_rate": 0.0}

``work_seconds`` sleeps that long (heartbeats keep the task alive meanwhile) and ``fail_rate``
fails that fraction of tasks with ``GreetingFailed``, which the demo's state machine catches.
"""

from __future__ import annotations

import random

import anyio

from fleet import Fleet, Task, TaskFailure

app = Fleet()


@app.activity("HelloWorldActivity", heartbeat_seconds=20)
async def hello(task: Task) -> dict[str, str]:
    """Greet ``who`` after ``work_seconds``; fail ``fail_rate`` of the time."""
    data = task.input if isinstance(task.input, dict) else {}
    name = str(data.get("who", "world"))
    await anyio.sleep(float(data.get("work_seconds", 0.0)))
    if random.random() < float(data.get("fail_rate", 0.0)):
        raise TaskFailure("GreetingFailed", f"could not greet {name} (simulated failure)")
    return {"greeting": f"Hello, {name}"}
