"""The network and the API misbehave under a real ``fleet run`` process: errors, dropped
connections, seconds of latency, an endpoint restart (with and without lost polls), and
throttling at AWS's quotas."""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import anyio.abc
import pytest
from reliability_support import (
    HEARTBEAT_REAL,
    LONG_POLL_SECONDS,
    RETRY_REAL,
    SLEEPER,
    TIME_SCALE,
    api_outcomes,
    completed,
    machine,
    show,
    start_all,
    stop,
    wait_completed,
)
from support.faults import assert_nothing_lost
from support.fleet_process import fleet_process
from support.sigv4 import DUMMY_AUTHORIZATION
from support.worker import client, start, unique

from fleet._bucket import TokenBucket
from fleet.emulator import Emulator, _throttle


async def test_errors_and_dropped_connections_on_every_call_lose_nothing(
    tmp_path: Path, make_endpoint: Any, issued_tokens: list[str]
) -> None:
    name = unique("Faults")
    async with make_endpoint(seed=11) as emu, client(emu.endpoint_url) as sfn:
        arn = await machine(sfn, name)
        # Half the tasks run long enough to heartbeat through the faults.
        runs = await start(sfn, arn, [{"sleep": 0.2 + 1.3 * (i % 2)} for i in range(40)])
        async with fleet_process(
            tmp_path, SLEEPER.format(name=name), emu.endpoint_url,
            "--concurrency", "16", "--max-pollers", "8", log_level="DEBUG",
        ) as worker:  # fmt: skip
            await worker.wait_ready()
            emu.options.update({"fault_rate": 0.2, "fault_kinds": ["500", "503", "drop"]})
            try:
                await wait_completed(worker, name, 40, timeout=40)
            finally:
                emu.options.fault_rate = 0.0
            report = await stop(worker)
        ledger = await assert_nothing_lost(
            sfn,
            runs,
            [report],
            heartbeat_seconds=HEARTBEAT_REAL,
            retry_seconds=RETRY_REAL,
            tokens=issued_tokens,
        )
        faults = dict(emu.stats.faults_injected)
    assert ledger.timeouts == 0
    assert ledger.retries == 0  # every fault was absorbed by the worker's own retries
    calls = api_outcomes(report)
    assert calls["server_error"] > 0
    assert calls["network_error"] > 0
    assert report.total("fleet_heartbeats_total", result="error") > 0
    show("faults", {**ledger.summary(), "injected": faults, "calls": calls})


async def test_seconds_of_latency_on_every_call_lose_nothing(
    tmp_path: Path, make_endpoint: Any, issued_tokens: list[str]
) -> None:
    name = unique("Latency")
    latency = 1.5
    # Heartbeats land `latency` late: HeartbeatSeconds must leave room for it beyond the
    # worker's heartbeat interval (0.8 x 2.5 s here, against 5 s).
    source = SLEEPER.replace("heartbeat_seconds=1.0", "heartbeat_seconds=2.5")
    async with make_endpoint() as emu, client(emu.endpoint_url) as sfn:
        arn = await machine(sfn, name, heartbeat=50)
        async with fleet_process(
            tmp_path, source.format(name=name), emu.endpoint_url,
            "--concurrency", "16", "--min-pollers", "16", "--max-pollers", "16",
        ) as worker:  # fmt: skip
            await worker.wait_ready()
            emu.options.latency_seconds = latency
            began = time.monotonic()
            # Half the tasks run long enough to heartbeat once, through the latency.
            runs = await start_all(sfn, arn, [{"sleep": 0.2 + 2.0 * (i % 2)} for i in range(16)])
            try:
                await wait_completed(worker, name, 16, timeout=40)
            finally:
                emu.options.latency_seconds = 0.0
            took = time.monotonic() - began
            report = await stop(worker)
        ledger = await assert_nothing_lost(
            sfn,
            runs,
            [report],
            heartbeat_seconds=50 / TIME_SCALE,
            retry_seconds=RETRY_REAL,
            tokens=issued_tokens,
        )
    assert ledger.timeouts == 0
    assert ledger.retries == 0
    assert report.total("fleet_heartbeats_total", result="ok") > 0
    # Each task waited for its execution's start, its result and its heartbeats.
    assert took > 2 * latency
    durations = [a.ended - a.started for a in ledger.attempts]
    assert min(durations) > latency  # the result took `latency` to arrive
    numbers = {"latency_seconds": latency, "seconds_for_16_tasks": round(took, 2)}
    show("latency", {**ledger.summary(), **numbers, "calls": api_outcomes(report)})


@pytest.mark.parametrize("lost_polls", [False, True], ids=["restart", "restart-lost-polls"])
async def test_the_endpoint_restarts_under_a_running_worker(
    tmp_path: Path, make_endpoint: Any, issued_tokens: list[str], lost_polls: bool
) -> None:
    name = unique("Restart")
    async with make_endpoint(lost_polls=lost_polls) as emu, client(emu.endpoint_url) as sfn:
        arn = await machine(sfn, name)
        # These run through the outage, heartbeating; they finish after it (a result held
        # up by an outage is the case of test_fault_reporting).
        before = await start(sfn, arn, [{"sleep": 3.5}] * 6)
        async with fleet_process(
            tmp_path, SLEEPER.format(name=name), emu.endpoint_url,
            "--concurrency", "10", "--min-pollers", "4", "--max-pollers", "4",
            "--drain-seconds", "4", "--drain-reserve-seconds", "1",
        ) as worker:  # fmt: skip
            await worker.wait_ready()
            await worker.wait_for("fleet_tasks_in_flight", 6, activity=name)
            # Polls held as long as AWS holds them (relative to the outage): a poll cut off
            # by the restart is still waiting in line when the next tasks are scheduled.
            emu.options.long_poll_seconds = 10.0
            await anyio.sleep(LONG_POLL_SECONDS + 0.3)  # every poll in flight is a long one
            await wait_polls_waiting(emu, 4)
            await emu.stop_listening()
            await anyio.sleep(1.0)
            await emu.start_listening()
            back_at = time.time()
            after = await start(sfn, arn, [{}] * 8)
            emu.options.long_poll_seconds = 1.0
            await worker.wait_for(
                "fleet_tasks_completed_total", 14, timeout=45, activity=name, outcome="succeeded"
            )
            report = await stop(worker)
        lost = emu.stats.tasks_handed_to_closed_polls
        ledger = await assert_nothing_lost(
            sfn,
            before + after,
            [report],
            heartbeat_seconds=HEARTBEAT_REAL,
            retry_seconds=RETRY_REAL,
            unseen={worker.name: lost},
            tokens=issued_tokens,
        )
    first_started = min(a.started for a in ledger.attempts if a.execution in after) - back_at
    # The first task after the restart that the worker itself took (not a dead poll).
    reconnected = (
        min(
            a.started
            for a in ledger.attempts
            if a.execution in after and a.end != "ActivityTimedOut"
        )
        - back_at
    )
    assert ledger.workers[worker.name]["succeeded"] == 14
    if lost_polls:
        # The four polls cut off by the restart each took a task nobody could read.
        assert lost == 4
        assert ledger.timeouts == 4
        assert len(ledger.recoveries) == 4  # each retried, in time (see assert_nothing_lost)
    else:
        assert lost == 0
        assert ledger.timeouts == 0
    # Polls back off with full jitter, capped at 30 s; after 1 s down the median wait is
    # ~0.5 s, but the failures of all pollers add up, so the tail is long (docs).
    assert reconnected < 30 + 1.0
    numbers = {
        "lost": lost,
        "first_started_after_restart": round(first_started, 2),
        "reconnected_after_seconds": round(reconnected, 2),
    }
    show(f"restart lost_polls={lost_polls}", {**ledger.summary(), **numbers})


async def wait_polls_waiting(emu: Emulator, count: int) -> None:
    with anyio.fail_after(5):
        while emu.snapshot()["polls_waiting"] < count:
            await anyio.sleep(0.05)


class OtherFleet:
    """Another fleet of the same account: it polls and reports as fast as it can.

    Its calls name no real activity or task, so all they do is use the account's buckets.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.throttled: dict[str, int] = {"GetActivityTask": 0, "SendTaskSuccess": 0}
        self.saturated = anyio.Event()
        self.stop = anyio.Event()

    async def empty_buckets(self, tg: anyio.abc.TaskGroup) -> None:
        """Run in ``tg`` until the account's two buckets are empty (``stop`` ends it)."""
        tg.start_soon(self.run)
        with anyio.fail_after(20):
            await self.saturated.wait()

    async def run(self) -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as session:
            async with anyio.create_task_group() as tg:
                for operation in self.throttled:
                    for _ in range(8):
                        tg.start_soon(self._caller, session, operation)

    async def _caller(self, session: aiohttp.ClientSession, operation: str) -> None:
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"AWSStepFunctions.{operation}",
            "Authorization": DUMMY_AUTHORIZATION,
        }
        body = {
            "GetActivityTask": {"activityArn": "arn:aws:states:us-east-1:123456789012:activity:x"},
            "SendTaskSuccess": {"taskToken": "x", "output": "1"},
        }[operation]
        data = json.dumps(body)
        while not self.stop.is_set():
            async with session.post(self.url, data=data, headers=headers) as response:
                if b"ThrottlingException" in await response.read():
                    self.throttled[operation] += 1
            if min(self.throttled.values()) >= 20:
                self.saturated.set()  # both buckets are empty


class PausedClock:
    """A clock for the endpoint's token buckets: stopped until ``resume``, then real time.

    While it is stopped no bucket refills, so a bucket emptied stays empty however slowly the
    machine runs; once resumed the buckets refill at the quota's real rate.
    """

    def __init__(self) -> None:
        self.stopped_at: float | None = time.monotonic()
        self.offset = 0.0

    @classmethod
    def of_endpoint_buckets(cls, monkeypatch: pytest.MonkeyPatch) -> PausedClock:
        """A stopped clock that the endpoint's token buckets made from now on run on."""
        clock = cls()
        monkeypatch.setattr(_throttle, "TokenBucket", functools.partial(TokenBucket, clock=clock))
        return clock

    def __call__(self) -> float:
        if self.stopped_at is not None:
            return self.stopped_at
        return time.monotonic() - self.offset

    def resume(self) -> None:
        assert self.stopped_at is not None
        self.offset = time.monotonic() - self.stopped_at
        self.stopped_at = None


@pytest.mark.timeout(90)
async def test_throttling_at_the_quotas_of_a_smaller_region(
    tmp_path: Path, make_endpoint: Any, issued_tokens: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    name = unique("Throttle")
    tasks = 400
    clock = PausedClock.of_endpoint_buckets(monkeypatch)
    async with make_endpoint() as emu, client(emu.endpoint_url) as sfn:
        # A finished task's result is not heartbeated while its report is retried, so the
        # heartbeat timeout must outlast throttled retries: 30 s, as in production's 60 s.
        arn = await machine(sfn, name, context=False, heartbeat=300)
        runs = await start_all(sfn, arn, [{}] * tasks)
        emu.options.throttle = "other"
        other = OtherFleet(emu.endpoint_url)
        async with anyio.create_task_group() as tg:
            # Another fleet of the account empties the buckets of GetActivityTask and
            # SendTaskSuccess (1,500 each) while the buckets' clock stands still, so they stay
            # empty until this worker has had a poll refused, however busy the machine. Then
            # the other fleet stops and the clock runs: from then on the worker has what the
            # quota refills, 300 calls a second.
            await other.empty_buckets(tg)
            async with fleet_process(
                tmp_path, SLEEPER.format(name=name), emu.endpoint_url,
                "--concurrency", "64", "--min-pollers", "16", "--max-pollers", "16",
            ) as worker:  # fmt: skip
                await worker.wait_ready(timeout=30)
                await worker.wait_for(
                    "fleet_polls_total", 1, timeout=60, activity=name, result="throttled"
                )
                other.stop.set()
                clock.resume()
                began = time.monotonic()
                done_before = await completed(worker, name)
                await wait_completed(worker, name, tasks, timeout=60)
                took = time.monotonic() - began
                emu.options.throttle = None
                report = await stop(worker)
        throttled = dict(emu.stats.throttled)
        ledger = await assert_nothing_lost(
            sfn,
            runs,
            [report],
            heartbeat_seconds=300 / TIME_SCALE,
            retry_seconds=RETRY_REAL,
            tokens=issued_tokens,
        )
    rate = (tasks - done_before) / took
    assert ledger.timeouts == 0
    assert ledger.retries == 0
    # Polls are refused first; the reports then come no faster than the quota refills (from
    # empty buckets: a busy machine can only make the worker slower, never faster). How close
    # to the quota the worker gets is a matter of speed: the benchmarks measure it.
    assert report.total("fleet_polls_total", result="throttled") > 0
    assert rate < 300 * 1.2
    numbers = {
        "worker_tasks_per_second": round(rate, 1),
        "throttled_by_endpoint": throttled,
        "other_fleet_throttled": other.throttled,
        "seconds": round(took, 2),
    }
    show("throttle", {**ledger.summary(), **numbers, "calls": api_outcomes(report)})


@pytest.mark.timeout(90)
async def test_pollers_refused_together_each_pause_by_their_own_refusals(
    tmp_path: Path, make_endpoint: Any, issued_tokens: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sixteen pollers refused by the same empty bucket are not sent to sleep for 30 s.

    Each poller's pause grows with its own refusals in a row, so the first refusal of each is
    a short pause however many of the others were refused just before it; the refusals are
    logged at DEBUG with one warning per interval; once the bucket refills every task is
    taken and nothing is lost.
    """
    name = unique("Refused")
    pollers = 16
    clock = PausedClock.of_endpoint_buckets(monkeypatch)
    async with make_endpoint() as emu, client(emu.endpoint_url) as sfn:
        arn = await machine(sfn, name, context=False, heartbeat=300)
        runs = await start_all(sfn, arn, [{}] * 40)
        emu.options.throttle = "other"
        other = OtherFleet(emu.endpoint_url)
        async with anyio.create_task_group() as tg:
            await other.empty_buckets(tg)  # the clock stands: they stay empty
            other.stop.set()
            async with fleet_process(
                tmp_path, SLEEPER.format(name=name), emu.endpoint_url, "--concurrency", "64",
                "--min-pollers", str(pollers), "--max-pollers", str(pollers),
                log_level="DEBUG",  # each refusal is a DEBUG line
            ) as worker:  # fmt: skip
                await worker.wait_ready(timeout=30)
                # Every poller has been refused at least once before the bucket refills.
                await worker.wait_for(
                    "fleet_polls_total", pollers * 3, timeout=60, activity=name,
                    result="throttled",
                )  # fmt: skip
                clock.resume()
                await wait_completed(worker, name, len(runs), timeout=60)
                emu.options.throttle = None
                report = await stop(worker)
        ledger = await assert_nothing_lost(
            sfn, runs, [report], heartbeat_seconds=300 / TIME_SCALE, retry_seconds=RETRY_REAL,
            tokens=issued_tokens,
        )  # fmt: skip
    logs = worker.logs()
    refusals = [line for line in logs if line.get("message") == "poll failed; backing off"]
    warnings = [line for line in logs if line.get("message") == "polls throttled; backing off"]
    first = [line["retry_in"] for line in refusals if line["attempt"] == 1]
    assert ledger.timeouts == 0
    assert len(refusals) >= pollers * 3
    assert {line["level"] for line in refusals} == {"debug"}
    # Every poller's first refusal in a row (at least one each, while the bucket stood
    # empty) paused at most the first step of the backoff, 0.2 s, where a count shared by the
    # pollers would have reached its 30 s cap by the ninth refusal.
    assert len(first) >= pollers
    assert max(first) <= 0.2
    # The refusals are one warning at once, then at most one per 10 s with their count.
    assert warnings[0]["throttled"] == 1
    assert 1 <= len(warnings) < len(refusals)
    assert sum(line["throttled"] for line in warnings) <= len(refusals)
    show("refused pollers", {"refusals": len(refusals), "warnings": len(warnings),
                             "first_pauses_max": max(first)})  # fmt: skip
