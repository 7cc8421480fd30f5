"""Handlers that misbehave, in a real ``fleet run`` process: each task fails or stalls on its
first attempt in its own way, and the state machine's Retry finishes it on the second."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reliability_support import HEARTBEAT_REAL, RETRY_REAL, machine, show, stop
from support.faults import assert_nothing_lost
from support.fleet_process import fleet_process
from support.worker import client, start, unique, wait_done

UNRULY = """
import time

import anyio
from fleet import Fleet, Task

app = Fleet()
LEAK = []


def spin(seconds):
    # CPU work in pure Python, the kind that holds the interpreter.
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def first(task):
    return (task.attempt or 1) == 1


@app.activity({names[raises]!r})
async def raises(task: Task):
    if first(task):
        raise ValueError("refusing the first attempt")
    return "ok"


@app.activity({names[hangs]!r}, timeout_seconds=0.5)
async def hangs(task: Task):
    if first(task):
        await anyio.sleep(60)
    return "ok"


@app.activity({names[hangs_sync]!r}, timeout_seconds=0.5)
def hangs_sync(task: Task):
    if first(task):
        time.sleep(3)  # a thread cannot be cancelled: it finishes in the background
    return "ok"


@app.activity({names[cpu_in_loop]!r})
async def cpu_in_loop(task: Task):
    spin(1.4)  # blocks the event loop: every other task and heartbeat waits
    return "ok"


@app.activity({names[cpu_in_thread]!r})
def cpu_in_thread(task: Task):
    spin(1.2)  # a plain def runs in the thread pool: the loop keeps going
    return "ok"


@app.activity({names[huge]!r})
async def huge(task: Task):
    return "x" * 300_000 if first(task) else "ok"


@app.activity({names[not_json]!r})
async def not_json(task: Task):
    return {{"when": {{1, 2}}}} if first(task) else "ok"


@app.activity({names[bad_text]!r})
async def bad_text(task: Task):
    # A file name read with surrogateescape: not valid Unicode, so not valid JSON output.
    return {{"file": b"caf\\xe9.txt".decode("utf-8", "surrogateescape")}} if first(task) else "ok"


@app.activity({names[bad_message]!r})
async def bad_message(task: Task):
    if first(task):
        name = b"caf\\xe9.txt".decode("utf-8", "surrogateescape")
        raise FileNotFoundError(f"no such file: {{name}}")
    return "ok"


@app.activity({names[leaks]!r})
async def leaks(task: Task):
    LEAK.append(bytearray(4 * 1024 * 1024))  # 4 MiB kept forever per task
    return "ok"
"""

KINDS = (
    "raises", "hangs", "hangs_sync", "cpu_in_loop", "cpu_in_thread", "huge", "not_json",
    "bad_text", "bad_message", "leaks",
)  # fmt: skip
#: What the first attempt of each kind is failed back with (None: it succeeds).
FIRST_ERROR = {
    "raises": "ValueError",
    "hangs": "Fleet.Timeout",
    "hangs_sync": "Fleet.Timeout",
    "cpu_in_loop": None,
    "cpu_in_thread": None,
    "huge": "Fleet.OutputTooLarge",
    "not_json": "Fleet.InvalidOutput",
    "bad_text": "Fleet.InvalidOutput",
    "bad_message": "FileNotFoundError",
    "leaks": None,
}
LEAKS = 20


async def test_misbehaving_handlers_are_failed_back_and_retried(
    tmp_path: Path, make_endpoint: Any, issued_tokens: list[str]
) -> None:
    names = {kind: unique(kind.replace("_", "")) for kind in KINDS}
    async with make_endpoint() as emu, client(emu.endpoint_url) as sfn:
        machines = {kind: await machine(sfn, name) for kind, name in names.items()}
        async with fleet_process(
            tmp_path, UNRULY.format(names=names), emu.endpoint_url, "--concurrency", "32",
        ) as worker:  # fmt: skip
            await worker.wait_ready()
            # CPU work in the thread pool first: the event loop stays responsive.
            in_thread = await start(sfn, machines["cpu_in_thread"], [{}] * 2)
            await wait_done(sfn, in_thread)
            lag_with_threads = await worker.sample("fleet_event_loop_lag_seconds")
            rss_before = await worker.sample("process_resident_memory_bytes")
            count = {"leaks": LEAKS}
            runs = {
                kind: await start(sfn, machines[kind], [{}] * count.get(kind, 2))
                for kind in KINDS
                if kind not in ("cpu_in_thread", "cpu_in_loop")
            }
            every = [arn for arns in runs.values() for arn in arns]
            await wait_done(sfn, every, timeout=60)
            # Last, one task blocks the loop (1.4 s, inside the 3 s heartbeat timeout).
            runs["cpu_in_loop"] = await start(sfn, machines["cpu_in_loop"], [{}])
            every += runs["cpu_in_loop"]
            await wait_done(sfn, runs["cpu_in_loop"])
            lag_with_loop_blocked = await worker.sample("fleet_event_loop_lag_seconds")
            rss_after = await worker.sample("process_resident_memory_bytes")
            report = await stop(worker)
        ledger = await assert_nothing_lost(
            sfn,
            in_thread + every,
            [report],
            heartbeat_seconds=HEARTBEAT_REAL,
            retry_seconds=RETRY_REAL,
            tokens=issued_tokens,
        )
        failures = {
            kind: [
                e["activityFailedEventDetails"]
                for arn in arns
                for e in (await sfn.get_execution_history(executionArn=arn))["events"]
                if e["type"] == "ActivityFailed"
            ]
            for kind, arns in runs.items()
        }
    assert ledger.timeouts == 0
    for kind, arns in runs.items():
        errors = [a.error for a in ledger.attempts if a.execution in arns and a.error]
        expected = FIRST_ERROR[kind]
        assert errors == ([expected] * len(arns) if expected else []), kind
    # The handlers' own 0.5 s timeouts fired, even for a thread that could not be stopped: the
    # errors above are Fleet.Timeout, where a hang left alone would end in the 3 s heartbeat
    # timeout (ActivityTimedOut). On the endpoint's clock, never before the 0.5 s.
    timed_out = {
        kind: min(a.ended - a.started for a in ledger.attempts
                  if a.execution in runs[kind] and a.error == "Fleet.Timeout")
        for kind in ("hangs", "hangs_sync")
    }  # fmt: skip
    assert min(timed_out.values()) >= 0.5 - 0.002, timed_out
    assert "not valid" in failures["bad_text"][0]["cause"]
    assert failures["bad_message"][0]["cause"].startswith("FileNotFoundError: no such file: caf")
    # The loop-lag metric tells a handler that blocks the loop from one that does not: both
    # measured on the same machine in the same run, however busy it is.
    assert lag_with_loop_blocked > 0.9
    assert lag_with_threads < lag_with_loop_blocked / 2
    # And the worker says so in its log. Whom the line blames (a handler, the collector, or a
    # host that starved the process) depends on how busy the machine is, so any of the three
    # will do here; tests/worker/test_loop_gc.py checks the blame itself on fixed numbers.
    blocked = [line for line in report.lines if "event loop" in line and "lag_seconds" in line]
    assert blocked
    # A slow leak shows in the process's resident memory (4 MiB a task here).
    grown = rss_after - rss_before
    assert grown > 0.75 * LEAKS * 4 * 1024 * 1024
    show(
        "handlers",
        {
            **ledger.summary(),
            "loop_lag_seconds_cpu_in_threads": round(lag_with_threads, 3),
            "loop_lag_seconds_cpu_in_loop": round(lag_with_loop_blocked, 3),
            "rss_growth_mib": round(grown / 2**20, 1),
            "timeout_0.5s_reported_after_at_least": {k: round(v, 2) for k, v in timed_out.items()},
        },
    )
