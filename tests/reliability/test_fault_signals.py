"""Signals to a real ``fleet run`` process: SIGTERM, a second signal, SIGINT, SIGKILL.

Each case ends with the same invariant (``support.faults.assert_nothing_lost``), with the
stopped worker's own final metrics and a second worker that finishes what was handed back.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import anyio
from reliability_support import (
    HEARTBEAT_REAL,
    LONG_POLL_SECONDS,
    RETRY_REAL,
    SLEEPER,
    machine,
    report_of,
    rescuer,
    show,
)
from support.faults import WorkerReport, assert_nothing_lost
from support.fleet_process import fleet_process
from support.worker import client, start, unique, wait_done


async def test_sigterm_with_tasks_running_polls_in_flight_and_a_backlog(
    tmp_path: Path, make_endpoint: Any, issued_tokens: list[str]
) -> None:
    name = unique("Term")
    # Lost-poll mode: a poll the worker gave up would still be handed a task, and lost.
    # Long polls held 10 s: the polls in flight at SIGTERM are still waiting for the tasks.
    async with (
        make_endpoint(lost_polls=True, long_poll_seconds=10) as emu,
        client(emu.endpoint_url) as sfn,
    ):
        arn = await machine(sfn, name)
        running = await start(sfn, arn, [{"sleep": 1.0}] * 3 + [{"sleep": 60}] * 3)
        async with fleet_process(
            tmp_path, SLEEPER.format(name=name), emu.endpoint_url,
            "--concurrency", "10", "--min-pollers", "4", "--max-pollers", "4",
            "--drain-seconds", "5", "--drain-reserve-seconds", "1.5",
        ) as worker:  # fmt: skip
            await worker.wait_ready()
            await worker.wait_for("fleet_tasks_in_flight", 6, activity=name)
            await worker.wait_for("fleet_polls_in_flight", 4, activity=name)
            sent = time.monotonic()
            worker.process.send_signal(signal.SIGTERM)
            await worker.wait_for("fleet_draining", 1)
            assert emu.snapshot()["polls_waiting"] == 4
            # Four tasks reach the polls still in flight; six wait for another worker.
            arriving = await start(sfn, arn, [{}] * 10)
            # Within the budget: three tasks sleep 60 s, longer than this waits, and the
            # outcomes below show they were interrupted at the budget's reserve.
            status = await worker.exit_status(timeout=30)
            took = time.monotonic() - sent
        assert status == 0
        emu.options.long_poll_seconds = LONG_POLL_SECONDS
        async with rescuer(emu.endpoint_url, name) as second:
            await wait_done(sfn, running + arriving)
        ledger = await assert_nothing_lost(
            sfn,
            running + arriving,
            [WorkerReport.of_process(worker), report_of(second)],
            heartbeat_seconds=HEARTBEAT_REAL,
            retry_seconds=RETRY_REAL,
            tokens=issued_tokens,
        )
        lost_to_dead_polls = emu.stats.tasks_handed_to_closed_polls
    assert ledger.timeouts == 0
    assert lost_to_dead_polls == 0
    first = ledger.workers[worker.name]
    # The four that reached its polls during the drain ran there: no attempt spent on them.
    assert first == {"received": 10, "succeeded": 7, "interrupted": 3}
    assert ledger.workers["rescuer"] == {"received": 9, "succeeded": 9}
    show("sigterm", {**ledger.summary(), "exit_seconds": round(took, 2)})


async def test_a_second_sigint_fails_back_at_once_and_polls_in_flight_still_finish(
    tmp_path: Path, make_endpoint: Any, issued_tokens: list[str]
) -> None:
    name = unique("Twice")
    async with (
        # Polls held as long as AWS holds them, so that the two in flight at the second signal
        # are still open however slowly a busy machine gets there.
        make_endpoint(lost_polls=True, long_poll_seconds=60) as emu,
        client(emu.endpoint_url) as sfn,
    ):
        arn = await machine(sfn, name)
        running = await start(sfn, arn, [{"sleep": 60}] * 4)
        async with fleet_process(
            tmp_path, SLEEPER.format(name=name), emu.endpoint_url,
            "--concurrency", "6", "--min-pollers", "2", "--max-pollers", "2",
            "--drain-seconds", "60", "--drain-reserve-seconds", "5",
        ) as worker:  # fmt: skip
            await worker.wait_ready()
            await worker.wait_for("fleet_tasks_in_flight", 4, activity=name)
            await worker.wait_for("fleet_polls_in_flight", 2, activity=name)
            worker.process.send_signal(signal.SIGINT)
            await worker.wait_for("fleet_draining", 1)
            second_signal_at = time.time()
            sent = time.monotonic()
            worker.process.send_signal(signal.SIGINT)
            # The running tasks are failed back at once. Until the worker has taken the second
            # signal, a task that arrives would still be started (a drain runs what arrives),
            # so wait for the fail-back before sending more.
            await worker.wait_for(
                "fleet_tasks_completed_total", 4, activity=name, outcome="interrupted"
            )
            # The two polls still in flight are not cancelled: the next tasks reach them and
            # are failed back at once without running. Which tasks those are depends on the
            # machine's speed: the retries of the four (0.1 s on) or the two started now.
            arriving = await start(sfn, arn, [{}] * 2)
            # Not the 55 s the first signal allowed: that is longer than this waits.
            status = await worker.exit_status(timeout=30)
            took = time.monotonic() - sent
        assert status == 0
        emu.options.long_poll_seconds = LONG_POLL_SECONDS
        async with rescuer(emu.endpoint_url, name) as second:
            await wait_done(sfn, running + arriving)
        ledger = await assert_nothing_lost(
            sfn,
            running + arriving,
            [WorkerReport.of_process(worker), report_of(second)],
            heartbeat_seconds=HEARTBEAT_REAL,
            retry_seconds=RETRY_REAL,
            tokens=issued_tokens,
        )
        lost_to_dead_polls = emu.stats.tasks_handed_to_closed_polls
    assert ledger.timeouts == 0
    assert lost_to_dead_polls == 0
    assert ledger.workers[worker.name] == {"received": 6, "interrupted": 4, "drained": 2}
    failed_back = [
        a.ended - second_signal_at for a in ledger.attempts if a.error == "Fleet.Interrupted"
    ]
    # At once, not at the budget's reserve 55 s on: the worker had exited well before that.
    assert len(failed_back) == 4
    assert max(failed_back) < took
    numbers = {"exit_seconds": round(took, 2), "failed_back_seconds": round(max(failed_back), 2)}
    show("second sigint", {**ledger.summary(), **numbers})


async def test_sigkill_mid_task_is_recovered_by_the_heartbeat_timeout_and_retry(
    tmp_path: Path, make_endpoint: Any, issued_tokens: list[str]
) -> None:
    name = unique("Kill")
    async with make_endpoint() as emu, client(emu.endpoint_url) as sfn:
        arn = await machine(sfn, name)
        runs = await start(sfn, arn, [{"sleep": 60}] * 8)
        async with fleet_process(
            tmp_path, SLEEPER.format(name=name), emu.endpoint_url, "--concurrency", "8",
        ) as worker:  # fmt: skip
            await worker.wait_ready()
            await worker.wait_for("fleet_tasks_in_flight", 8, activity=name)
            # Let the tasks heartbeat for a while: the kill comes long after they started.
            await anyio.sleep(1.5)
            async with rescuer(emu.endpoint_url, name) as second:
                killed_at = time.time()
                worker.process.send_signal(signal.SIGKILL)
                assert await worker.exit_status(timeout=5) == -signal.SIGKILL
                await wait_done(sfn, runs)
        ledger = await assert_nothing_lost(
            sfn,
            runs,
            [report_of(second)],
            heartbeat_seconds=HEARTBEAT_REAL,
            retry_seconds=RETRY_REAL,
            since=killed_at,
            tokens=issued_tokens,
        )
    assert worker.final is None  # nothing could be done inside the killed process
    # Every first attempt timed out (they sleep 60 s) and every timeout was retried; the
    # rescuer finished them. On a machine so busy that the worker missed a heartbeat before
    # the kill, it took that retry itself, still alive; and a retry can reach a poll of the
    # killed worker that the endpoint has not yet seen close, and time out in turn.
    first = {a.execution: a for a in reversed(ledger.attempts)}
    assert {a.end for a in first.values()} == {"ActivityTimedOut"}
    assert ledger.timeouts >= 8
    assert ledger.tasks == 8 + ledger.timeouts
    rescued = [a for a in ledger.attempts if a.worker == "rescuer"]
    assert rescued
    assert ledger.workers["rescuer"] == {"received": len(rescued), "succeeded": len(rescued)}
    # Each task waited for the service's heartbeat clock (its last heartbeat came about one
    # interval, ~0.8 s, before the kill); the retry was scheduled right after (checked by
    # assert_nothing_lost on the endpoint's clock) and a waiting rescuer poll took it.
    assert min(a.started for a in rescued) - killed_at > HEARTBEAT_REAL - 1.5
    show("sigkill", ledger.summary())
