"""The heartbeat schedule: late beats, retried within the window when throttled, deadline first."""

from __future__ import annotations

import gc
import logging
import weakref
from typing import Any

import anyio
import pytest
from support.worker import (
    client,
    create_machine,
    event_types,
    history,
    running_worker,
    start,
    unique,
    wait_done,
)

from fleet import Fleet, Task, _limits, _quota
from fleet._api import ApiError
from fleet._heartbeat import _STALE_ENTRIES, HeartbeatScheduler
from fleet._metrics import Metrics

_LOG = logging.LoggerAdapter(logging.getLogger("test"), {})


@pytest.mark.slow
async def test_a_throttled_heartbeat_is_retried_before_the_window_closes(
    make_endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The endpoint's own token bucket for SendTaskHeartbeat, shrunk so that beats sent
    # together find it empty: one token, refilled 4 times a second. Three beats due within
    # the same few milliseconds need 0.5 s of refill; the margin before an 8 s window
    # closes is 1 s.
    monkeypatch.setitem(_limits.API_QUOTAS, "SendTaskHeartbeat", ((1, 4.0), (1, 4.0)))
    app = Fleet()
    name = unique("Throttled")
    tasks = 3
    window = 8

    @app.activity(name, heartbeat_seconds=window)
    async def long(task: Task) -> str:
        await anyio.sleep(window + 1)  # one beat each, all due together
        return "done"

    async with make_endpoint(throttle="large") as emu, client(emu.endpoint_url) as sfn:
        _, machine = await create_machine(sfn, name, heartbeat=window)
        arns = await start(sfn, machine, [{}] * tasks)  # queued: one round of polls takes all
        async with running_worker(
            app, emu.endpoint_url, concurrency=tasks, min_pollers=tasks, max_pollers=tasks
        ) as worker:
            done = await wait_done(sfn, arns, timeout=4 * window)
            events = [event_types(await history(sfn, arn)) for arn in arns]
        throttled_by_endpoint = emu.stats.throttled["SendTaskHeartbeat"]

    assert throttled_by_endpoint >= 1
    assert worker.value("fleet_heartbeats_total", activity=name, result="throttled") >= 1
    ok = worker.value("fleet_heartbeats_total", activity=name, result="ok")
    assert ok >= tasks
    # Every answered beat reports its slack; none of the windows closed (no ActivityTimedOut).
    assert worker.value("fleet_heartbeat_slack_seconds_count", activity=name) == ok
    assert {d["status"] for d in done.values()} == {"SUCCEEDED"}
    assert not [e for e in events if "ActivityTimedOut" in e]


class _Permits:
    """A budget whose SendTaskHeartbeat permits the test hands out one by one."""

    def __init__(self, permits: int) -> None:
        self.permits = permits

    def try_take(self, operation: str) -> bool:
        if self.permits > 0:
            self.permits -= 1
            return True
        return False

    def wait_seconds(self, operation: str) -> float:
        return 0.01


class _Api:
    """Records which task each heartbeat was for; throttles the first beat of ``throttle``."""

    def __init__(self, budget: _Permits, throttle: str) -> None:
        self.budget = budget
        self.sent: list[str] = []
        self._throttle = throttle

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        token = params["taskToken"]
        self.sent.append(token)
        if token == self._throttle and self.sent.count(token) == 1:
            raise ApiError(operation, "throttled", "ThrottlingException", "Rate exceeded")
        return {}


async def test_when_beats_are_short_the_nearest_deadline_goes_first() -> None:
    budget = _Permits(permits=1)
    api = _Api(budget, throttle="a")
    scheduler = HeartbeatScheduler(api, Metrics(), schedule="late")  # type: ignore[arg-type]
    window = 4.0
    async with anyio.create_task_group() as tg:
        tg.start_soon(scheduler.run)
        beats = {}
        for token in "abcd":  # started in this order, so their deadlines come in this order
            beats[token] = scheduler.add(
                activity="x", token=token, heartbeat_seconds=window,
                on_gone=lambda code: None, log=_LOG,
            )  # fmt: skip
            await anyio.sleep(0.01)
        # The one permit goes to a's beat, which is throttled; while it waits out the pause,
        # the beats of b, c and d come due. Then all four wait for permits.
        with anyio.fail_after(window):
            while scheduler.waiting < 4:
                await anyio.sleep(0.005)
        assert api.sent == ["a"]
        budget.permits = 3
        with anyio.fail_after(window):
            while len(api.sent) < 4:
                await anyio.sleep(0.005)
        tg.cancel_scope.cancel()
    # a's retry came due last, but its deadline is the nearest: it goes first, and d, whose
    # deadline is the farthest, is the one left waiting.
    assert api.sent == ["a", "a", "b", "c"]
    assert beats["a"].deadline < beats["b"].deadline < beats["c"].deadline


async def test_beats_go_as_late_as_the_margin_allows() -> None:
    budget = _Permits(permits=10)
    api = _Api(budget, throttle="")
    scheduler = HeartbeatScheduler(api, Metrics(), schedule="late")  # type: ignore[arg-type]
    window = 2.0
    async with anyio.create_task_group() as tg:
        tg.start_soon(scheduler.run)
        added = anyio.current_time()
        scheduler.add(
            activity="x", token="t", heartbeat_seconds=window, on_gone=lambda code: None, log=_LOG
        )
        with anyio.fail_after(window):
            while not api.sent:
                await anyio.sleep(0.005)
        sent_at = anyio.current_time()
        tg.cancel_scope.cancel()
    # Not before the window minus the margin (the loop clock only ever makes it later).
    assert sent_at - added >= window - _quota.margin(window) - 0.01


def test_the_fixed_schedule_is_the_old_one() -> None:
    assert _quota.interval(60, "fixed") == pytest.approx(60 * 0.8 * 0.95)
    assert _quota.interval(60) == 55
    assert _quota.ceiling("us-east-1", 60) == 27_500
    assert _quota.ceiling("us-east-1", 60, "fixed") == 22_800
    assert _quota.ceiling("eu-central-1", 300) == 300 * 285  # a 15 s margin at 300 s
    for window in (4, 10, 60, 300):  # later than the fixed 0.8x from 4 s windows on
        assert _quota.margin(window) < 0.2 * window


async def test_the_heartbeat_state_of_ended_tasks_is_let_go() -> None:
    # A worker running many short tasks with a long heartbeat window: each task's beat was
    # planned a whole interval ahead. Once the tasks end, their state must not stay alive
    # until then (at 2,000 tasks a second and a 285 s interval, that was 570,000 of them).
    api = _Api(_Permits(permits=10), throttle="")
    scheduler = HeartbeatScheduler(api, Metrics(), schedule="late", rate=500)  # type: ignore[arg-type]
    tasks = 5000
    alive = []
    for index in range(tasks):
        beat = scheduler.add(
            activity="x", token=f"t{index}", heartbeat_seconds=300,
            on_gone=lambda code: None, log=_LOG,
        )  # fmt: skip
        alive.append(weakref.ref(beat))
        await beat.stop()
    del beat
    gc.collect()
    kept = sum(ref() is not None for ref in alive)
    # At most the entries the heap may hold before it is rebuilt, not every ended task.
    assert kept <= _STALE_ENTRIES < tasks
