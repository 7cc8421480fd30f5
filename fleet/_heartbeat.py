"""Heartbeats for every running task, from one scheduler, never racing a task's result.

The service's heartbeat clock for a task restarts when a beat arrives, and the account's
SendTaskHeartbeat bucket is shared by every task of every worker. So each beat goes out as
late in its window as is safe (``fleet._quota``: a margin before the window closes that
leaves room for a retry and the round trip), and the beats are spread so that the process
never asks for more than its share of the bucket in any second:

- **Spread.** A calendar counts the beats planned for each second. A task's beat takes the
  latest second before its safe time that still has room, so a burst of tasks started
  together beats in a spread-out wave instead of all at once. A second's room is this
  process's heartbeat rate (``FLEET_API_RATE``, or the region's refill when unset).
- **Deadline first.** Beats whose time has come wait for a permit in the order of their
  deadlines. When permits are short (the budget is spent, or the service throttles), the
  tasks nearest their deadline are served first and beats that can no longer arrive in
  time go last, so throttling costs the fewest tasks.
- **Shed rather than starve.** When the calendar has no room left before a task's safe
  time, the process is past its share. That task's beat then goes after every planned one:
  the tasks that fit keep every beat, and only the overflow risks its window, instead of
  every task being served a little too late.
- **Retried within the window.** A throttled or failed beat is tried again after a short
  pause, while the task's window is still open; a throttled answer also pauses the
  process's beats for that pause, so that the bucket can refill.

The ``fixed`` schedule (``FLEET_HEARTBEAT_SCHEDULE=fixed``) is the earlier behaviour, kept
for comparison: a beat every 0.8x HeartbeatSeconds with jitter, served in the order due.

Handlers' own ``task.heartbeat()`` calls are coalesced with the automatic beats. One loop
serves all tasks, so a task costs heap entries rather than a timer task of its own. A task
that ends leaves its entry behind (removing it from the heap would cost a scan); once such
entries are most of the heap it is rebuilt without them, as asyncio does with cancelled
timers, so that a worker running many short tasks does not keep each one's state for a whole
heartbeat interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
import random
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc

from fleet import _quota
from fleet._api import Api, ApiError
from fleet._budget import TokenBucket
from fleet._limits import api_refill_per_second
from fleet._metrics import Metrics
from fleet._quota import Schedule
from fleet._settings import Settings

_OPERATION = "SendTaskHeartbeat"
#: Share of a calendar second's room given to first beats; the rest absorbs retries.
_CALENDAR_FILL = 0.97
#: Added to the ready-queue key of beats that come too late to save their task.
_HOPELESS = 1e15
#: The timer heap is rebuilt once it holds more entries of ended tasks than this, and more
#: than live ones.
_STALE_ENTRIES = 1024


class Beat:
    """One task's heartbeat state. ``request()`` may be called from any thread."""

    def __init__(
        self,
        scheduler: HeartbeatScheduler,
        *,
        activity: str,
        token: str,
        heartbeat_seconds: float,
        on_gone: Callable[[str], None],
        log: logging.LoggerAdapter[Any],
    ) -> None:
        self._scheduler = scheduler
        self.activity = activity
        self.token = token
        self.window = heartbeat_seconds
        self.interval = _quota.interval(heartbeat_seconds, scheduler.schedule)
        self.timeout = _quota.ATTEMPT_TIMEOUT_SECONDS
        self.pause = _quota.retry_pause(heartbeat_seconds)
        # A handler calling heartbeat() in a tight loop sends at most one per this many seconds.
        self.min_gap = min(self.interval, max(1.0, self.interval / 10))
        self.on_gone = on_gone
        self.log = log
        self.last_sent = anyio.current_time()
        #: When the service's clock runs out, at the latest: the window counted from when the
        #: last successful beat (or the task's start) *left*, which is no later than it landed.
        self.deadline = self.last_sent + heartbeat_seconds
        self.due = math.inf
        self.slot: int | None = None  # the calendar second this beat holds, if any
        self.spare = False  # no room in the calendar: served after every planned beat
        self.stopped = False
        self.sending: asyncio.Future[None] | None = None

    def request(self) -> None:
        """Ask for a heartbeat soon (coalesced with other requests and the automatic ones)."""
        self._scheduler.expedite_threadsafe(self)

    async def stop(self) -> None:
        """Stop heartbeating, after any heartbeat in flight has finished."""
        self.stopped = True
        self._scheduler.forget(self)
        if self.sending is not None:
            await asyncio.shield(self.sending)


class _Calendar:
    """How many beats are planned in each second, to place a new one where there is room.

    ``_next`` links a full second to an earlier one (union-find with path halving), so that
    finding room costs nearly constant time even when a large burst fills many seconds.
    """

    def __init__(self, room: float) -> None:
        self.room = max(1, math.floor(room * _CALENDAR_FILL))
        self._count: dict[int, int] = {}
        self._next: dict[int, int] = {}

    def _find(self, second: int) -> int:
        nxt = self._next
        while second in nxt:
            parent = nxt[second]
            if parent in nxt:
                nxt[second] = nxt[parent]
            second = parent
        return second

    def place(self, earliest: float, latest: float) -> tuple[float, int | None]:
        """A send time in ``[earliest, latest]`` whose second has room, and that second.

        When every second in the range is full the beat goes at ``latest`` unplanned: the
        process is past its share and the deadline order decides.
        """
        last = math.floor(latest)
        second = self._find(last)
        if second < math.floor(earliest):
            return latest, None
        count = self._count.get(second, 0) + 1
        self._count[second] = count
        if count >= self.room:
            self._next[second] = second - 1
        start = max(float(second), earliest)
        end = min(second + 1.0, latest)
        return random.uniform(start, end) if end > start else start, second

    def release(self, second: int) -> None:
        """A planned beat left ``second`` (sent, moved or stopped)."""
        count = self._count.get(second, 0) - 1
        if count <= 0:
            self._count.pop(second, None)
        else:
            self._count[second] = count
        if count < self.room:
            self._next.pop(second, None)

    def forget_before(self, second: int) -> None:
        """Drop the seconds that have passed."""
        for old in [s for s in self._count if s < second]:
            del self._count[old]
        for old in [s for s in self._next if s < second]:
            del self._next[old]


class HeartbeatScheduler:
    """Sends every registered task's heartbeats when due, until cancelled.

    ``rate`` is this process's SendTaskHeartbeat share in calls per second (the calendar's
    room per second, and the pace at which beats are sent); ``None`` paces nothing, as the
    fixed schedule always did.
    """

    def __init__(
        self,
        api: Api,
        metrics: Metrics,
        *,
        schedule: Schedule = "late",
        rate: float | None = None,
    ) -> None:
        self._api = api
        self._metrics = metrics
        self.schedule: Schedule = schedule
        self.rate = rate
        self._timers: list[tuple[float, int, Beat]] = []  # waiting for their time
        self._ready: list[tuple[float, int, Beat]] = []  # time has come, by deadline
        self._order = itertools.count()
        self._calendar = _Calendar(rate) if rate is not None and schedule == "late" else None
        self._pace: TokenBucket | None = None
        if rate is not None:
            self._pace = TokenBucket(rate, max(1.0, rate), anyio.current_time)
        self._held_until = -math.inf  # no beats before this: the service said slow down
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._swept = 0
        self._stale = 0  # timer entries left by ended tasks or superseded by newer ones

    @classmethod
    def for_settings(cls, api: Api, metrics: Metrics, settings: Settings) -> HeartbeatScheduler:
        """The scheduler ``settings`` ask for: its schedule, and the process's heartbeat rate.

        The late schedule paces at ``FLEET_API_RATE``, or else at the region's whole refill
        (one process can never use more); the fixed one paces only when the rate is set.
        """
        rate = settings.api_rate
        if rate is None and settings.heartbeat_schedule == "late":
            rate = api_refill_per_second(settings.region)
        return cls(api, metrics, schedule=settings.heartbeat_schedule, rate=rate)

    @property
    def waiting(self) -> int:
        """Beats whose time has come, waiting for a permit."""
        return len(self._ready)

    def add(self, **kwargs: Any) -> Beat:
        """Start heartbeating a task; see ``Beat`` for the arguments."""
        beat = Beat(self, **kwargs)
        self._plan(beat)
        return beat

    def _plan(self, beat: Beat) -> None:
        """Choose when ``beat`` goes next, from its last send."""
        now = anyio.current_time()
        if self.schedule == "fixed":
            due = beat.last_sent + beat.interval / (1 - _quota.FIXED_JITTER / 2) * random.uniform(
                1 - _quota.FIXED_JITTER, 1.0
            )
        elif self._calendar is not None:
            latest = beat.deadline - _quota.margin(beat.window)
            due, beat.slot = self._calendar.place(now, latest)
            beat.spare = beat.slot is None and latest > now
        else:
            due = beat.deadline - _quota.margin(beat.window)
        self._push_timer(beat, max(due, now))

    def _push_timer(self, beat: Beat, due: float) -> None:
        superseded = beat.due != math.inf  # an entry at the earlier time is still queued
        beat.due = due
        if superseded:
            self._abandoned_entry()
        heapq.heappush(self._timers, (due, next(self._order), beat))
        if self._wake is not None and self._timers[0][2] is beat:
            self._wake.set()

    def forget(self, beat: Beat) -> None:
        """``beat``'s task has ended: free its calendar second, and in time its timer entry."""
        self.release_slot(beat)
        if beat.due != math.inf:
            beat.due = math.inf
            self._abandoned_entry()

    def _abandoned_entry(self) -> None:
        """A timer entry no longer matches its beat; rebuild the heap once most are such."""
        self._stale += 1
        if self._stale > _STALE_ENTRIES and self._stale * 2 > len(self._timers):
            self._timers = [e for e in self._timers if e[0] == e[2].due]
            heapq.heapify(self._timers)
            self._stale = 0

    def release_slot(self, beat: Beat) -> None:
        """Give back the calendar second ``beat`` holds."""
        if beat.slot is not None and self._calendar is not None:
            self._calendar.release(beat.slot)
        beat.slot = None

    def expedite_threadsafe(self, beat: Beat) -> None:
        """Bring a task's next heartbeat forward, from any thread."""
        if self._loop is None:
            return
        # A closed loop means nothing is waiting for heartbeats any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._expedite, beat)

    def _expedite(self, beat: Beat) -> None:
        soonest = beat.last_sent + beat.min_gap
        if not beat.stopped and beat.sending is None and soonest < beat.due:
            self.release_slot(beat)
            self._push_timer(beat, soonest)  # the old heap entry is skipped when it comes up

    async def run(self) -> None:
        """Send heartbeats as they fall due, until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        async with anyio.create_task_group() as tg:
            while True:
                now = anyio.current_time()
                self._collect(now)
                wait = self._dispatch(tg, now)
                if self._timers:
                    wait = min(wait, self._timers[0][0] - now)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._wake.wait(), None if math.isinf(wait) else max(wait, 0.001)
                    )

    def _collect(self, now: float) -> None:
        """Move the beats whose time has come from the timers to the ready queue."""
        timers, ready = self._timers, self._ready
        fixed = self.schedule == "fixed"
        while timers and timers[0][0] <= now:
            due, _, beat = heapq.heappop(timers)
            if beat.stopped or beat.sending is not None or due != beat.due:
                self._stale = max(0, self._stale - 1)
                continue  # stopped, busy, or an entry superseded by a newer one
            beat.due = math.inf
            self.release_slot(beat)
            key = due if fixed else beat.deadline + (_HOPELESS if beat.spare else 0.0)
            heapq.heappush(ready, (key, next(self._order), beat))
        if self._calendar is not None and int(now) > self._swept + 60:
            self._swept = int(now)
            self._calendar.forget_before(self._swept)

    def _dispatch(self, tg: anyio.abc.TaskGroup, now: float) -> float:
        """Send ready beats while there are permits; return how long until the next permit."""
        ready = self._ready
        while ready:
            if now < self._held_until:
                return self._held_until - now
            key, _, beat = ready[0]
            if beat.stopped or beat.sending is not None:
                heapq.heappop(ready)
                continue
            if key < _HOPELESS and self.schedule == "late" and now > beat.deadline + beat.timeout:
                # Past its deadline: the service has most likely timed the task out. Its beat
                # goes after every task that can still be saved (and tells us if it is gone).
                heapq.heapreplace(ready, (_HOPELESS + beat.deadline, next(self._order), beat))
                continue
            if self._pace is not None and not self._pace.take():
                return self._pace.wait_seconds()
            if not self._api.budget.try_take(_OPERATION):
                return max(0.001, self._api.budget.wait_seconds(_OPERATION))
            heapq.heappop(ready)
            assert self._loop is not None
            beat.sending = self._loop.create_future()
            tg.start_soon(self._send, beat)
        return math.inf

    async def _send(self, beat: Beat) -> None:
        assert beat.sending is not None
        started = anyio.current_time()
        try:
            await self._api.call(_OPERATION, timeout=beat.timeout, permitted=True,
                                 taskToken=beat.token)  # fmt: skip
        except ApiError as exc:
            if exc.task_gone:
                self._count(beat, "task_gone")
                beat.log.info("heartbeat says the task is gone; cancelling it",
                              extra={"code": exc.code})  # fmt: skip
                beat.stopped = True
                beat.on_gone(exc.code)
                return
            throttled = exc.outcome == "throttled"
            self._count(beat, "throttled" if throttled else "error")
            if not throttled:
                beat.log.warning("heartbeat failed; retrying soon",
                                 extra={"code": exc.code, "outcome": exc.outcome})  # fmt: skip
            self._retry(beat, throttled)
        else:
            self._count(beat, "ok")
            now = anyio.current_time()
            self._metrics.child(self._metrics.heartbeat_slack, beat.activity).observe(
                max(0.0, beat.deadline - now)
            )
            beat.last_sent = started
            beat.deadline = started + beat.window
            if not beat.stopped:
                self._plan(beat)
        finally:
            sending, beat.sending = beat.sending, None
            sending.set_result(None)
            if self._wake is not None:
                self._wake.set()

    def _retry(self, beat: Beat, throttled: bool) -> None:
        """Try a beat again after a pause, while its window is open (any beat may still land)."""
        now = anyio.current_time()
        if self.schedule == "fixed":
            # The earlier retry: a quarter of the interval at most, capped at 5 s.
            delay = random.uniform(0.5, 1.0) * min(5.0, beat.interval / 4)
        else:
            delay = beat.pause * random.uniform(0.5, 1.0)
            if throttled:
                # The bucket is empty for everyone: hold all beats, then serve by deadline.
                self._held_until = max(self._held_until, now + delay)
        if not beat.stopped:
            self._push_timer(beat, now + delay)

    def _count(self, beat: Beat, result: str) -> None:
        self._metrics.child(self._metrics.heartbeats, beat.activity, result).inc()
