"""The pollers of one activity: long polls that each hold a slot, adapting their number.

A poller takes a slot *before* it calls GetActivityTask, so a task never arrives that cannot
start at once, and polls in flight never exceed free slots. The number of pollers moves
between ``min_pollers`` and ``max_pollers``: up while polls bring tasks, down while they come
back empty, halved on throttling (once per second at most: many pollers refused by the same
empty bucket are one signal, not many). A failed poll backs off by its own poller's run of
failures, so that a burst of refusals across many pollers does not send them all to sleep for
the longest pause while the bucket has long refilled.

A poll in flight is never cancelled: the service may hand a task to a poll whose client went
away, and that task would then hang until its timeout. Stopping the pollers stops them
*starting* polls; a task that a finishing poll brings while the worker drains runs, unless the
drain has reached its fail-back, when it is failed back at once with ``Fleet.Draining``.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import anyio

from fleet import _errors, _reporting
from fleet._api import ApiError, backoff
from fleet._errors import FatalError
from fleet._limits import READ_TIMEOUT_SECONDS
from fleet._logging import TaskLog, get_logger, token_hash
from fleet._outcome import log_outcome
from fleet._ratelimit import RateLimiter
from fleet._reporting import TaskOutcome
from fleet._slots import Slot
from fleet._task import TaskContext, parse_input

if TYPE_CHECKING:
    from fleet._supervisor import ActivityRuntime, Supervisor

#: Client errors on a poll that no amount of retrying fixes.
FATAL_POLL_CODES = frozenset(
    {
        "ActivityDoesNotExist",
        "InvalidArn",
        "AccessDeniedException",
        "AccessDenied",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "InvalidClientTokenId",
    }
)

_log = get_logger("poller")

#: Throttled polls within this many seconds of a halving do not halve the pollers again.
_HALVING_SECONDS = 1.0
#: At most one warning about throttled polls per activity in this many seconds; each refusal
#: is logged at DEBUG, and counted in fleet_polls_total{result="throttled"}.
_THROTTLE_WARNING_SECONDS = 10.0


class PollerGroup:
    """Runs and sizes the pollers of one activity until the supervisor stops them."""

    def __init__(self, sup: Supervisor, runtime: ActivityRuntime) -> None:
        self._sup = sup
        self._rt = runtime
        settings = sup.settings
        self.minimum = min(settings.min_pollers, runtime.slots.capacity)
        self.maximum = max(self.minimum, min(settings.max_pollers, runtime.slots.capacity))
        self.target = self.minimum
        self.running = 0
        self.in_flight = 0
        self._poll_scopes: set[anyio.CancelScope] = set()
        self._last_ok = anyio.current_time()
        #: Unix time of the last poll that was answered (a task or empty), or of the start.
        self.last_ok_unix = time.time()
        self._failures = 0
        self._halved_at = -math.inf
        self._throttle_warned_at: float | None = None
        self._throttled_unwarned = 0
        self._tg: anyio.abc.TaskGroup | None = None
        self._log = _log.getChild(runtime.name)
        limit = runtime.activity.rate_limit
        self._rate = RateLimiter(limit) if limit is not None else None

    async def run(self) -> None:
        """Run pollers until cancelled; polls in flight finish and their tasks are handled."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            for _ in range(self.target):
                self._spawn()
            self._sup.changed()  # readiness counts running pollers: say so now, not at 1st poll
        self._tg = None

    def failing_for(self) -> float:
        """Seconds since the last answered poll, while polls fail; 0 while they do not."""
        return anyio.current_time() - self._last_ok if self._failures else 0.0

    def limit_polls(self, deadline: float) -> None:
        """Give up polls still in flight at ``deadline`` (the drain's end: exit comes next)."""
        for scope in self._poll_scopes:
            scope.deadline = min(scope.deadline, deadline)

    def _spawn(self) -> None:
        if self._tg is not None:
            self.running += 1
            self._tg.start_soon(self._poller)

    async def _poller(self) -> None:
        streak = 0  # this poller's failed polls in a row
        try:
            while self._sup.accepting and self.running <= self.target:
                try:
                    failure = await self._poll_once()
                    if failure is None:
                        streak = 0
                    else:
                        await self._poll_failed(failure, streak)
                        streak += 1
                except (FatalError, _errors.ConfigurationError) as exc:
                    self._sup.fail(exc)
                    return
                except Exception:
                    # A bug or an unexpected failure: restart this poller after a pause.
                    self._log.exception("poller failed; restarting it")
                    await anyio.sleep(backoff(min(self._failures, 8), base=0.5, cap=30))
                    self._failures += 1
        finally:
            self.running -= 1
            self._sup.changed()

    async def _poll_once(self) -> ApiError | None:
        """Take a slot and poll once; the error if the poll failed."""
        slot = await self._rt.slots.acquire()
        try:
            await self._sup.take_poll_budget()
        except BaseException:
            slot.release()
            raise
        if not self._sup.accepting:
            self._sup.return_poll_budget()
            slot.release()
            return None
        return await (self._poll(slot) if self._rate is None else self._rate_limited_poll(slot))

    async def _rate_limited_poll(self, slot: Slot) -> ApiError | None:
        """Poll once the rate limit lets a task start at once; the slot is freed if not."""
        assert self._rate is not None
        polled = False
        try:
            async with self._rate.turn():
                if self._sup.accepting:
                    polled = True  # from here _poll owns the slot: it frees or hands it over
                    return await self._poll(slot)
        finally:
            if not polled:
                slot.release()
        return None

    async def _poll(self, slot: Slot) -> ApiError | None:
        """One long poll, shielded from cancellation; hands the task over or frees the slot."""
        activity = self._rt.name
        handed_over = False
        with anyio.CancelScope(shield=True):
            try:
                started = time.perf_counter()
                self.in_flight += 1
                with anyio.CancelScope() as limit:
                    self._poll_scopes.add(limit)
                    try:
                        response = await self._sup.api.call(
                            "GetActivityTask",
                            timeout=READ_TIMEOUT_SECONDS,
                            activityArn=self._rt.arn,
                            workerName=self._sup.settings.worker_name,
                        )
                    except ApiError as exc:
                        self._sup.return_poll_budget()
                        return exc
                    finally:
                        self._poll_scopes.discard(limit)
                        self.in_flight -= 1
                        metrics = self._sup.metrics
                        metrics.child(metrics.poll_duration, activity).observe(
                            time.perf_counter() - started
                        )
                if limit.cancelled_caught:
                    self._log.error("gave up a poll still in flight at the end of the drain")
                    self._sup.return_poll_budget()
                    return None
                self._last_ok = anyio.current_time()
                self.last_ok_unix = time.time()
                self._failures = 0
                token = response.get("taskToken")
                if not token:
                    self._sup.return_poll_budget()
                    self._count("empty")
                    if self.target > self.minimum:
                        self.target -= 1
                    return None
                self._count("task")
                if self._rate is not None:
                    self._rate.spend()
                if self.target < self.maximum and self._sup.accepting:
                    self.target += 1
                    self._spawn()
                handed_over = True
                await self._received(token, response.get("input", "{}"), slot)
                return None
            finally:
                if not handed_over:
                    slot.release()
                self._sup.changed()
        return None  # reached only if the shielded scope swallowed an exception

    async def _received(self, token: str, raw_input: str, slot: Slot) -> None:
        metrics = self._sup.metrics
        metrics.child(metrics.tasks_received, self._rt.name).inc()
        self._sup.note_received()
        if self._sup.failing_back:
            await self._fail_back(token, raw_input, slot)
        else:
            self._sup.start_task(self._rt, token, raw_input, slot)

    async def _fail_back(self, token: str, raw_input: str, slot: Slot) -> None:
        """Hand a task that arrived after the drain's fail-back straight back, to run elsewhere."""
        started = anyio.current_time()
        log = TaskLog(self._log, {"activity": self._rt.name, "token": token_hash(token)})
        try:
            context: TaskContext | None = parse_input(raw_input)
        except ValueError:
            context = None
        report = _reporting.failure(
            _errors.DRAINING,
            f"worker {self._sup.settings.worker_name} is draining; no work was done",
            outcome="drained",
        )
        outcome: TaskOutcome = "unreported"
        try:
            outcome = await _reporting.send(
                self._sup.api, token, report, deadline=self._sup.report_deadline(), log=log
            )
        finally:
            slot.release()
            seconds = anyio.current_time() - started
            log_outcome(log, outcome=outcome, report=report, seconds=seconds, context=context)
            self._sup.task_completed(self._rt.name, outcome, seconds, report)

    async def _poll_failed(self, exc: ApiError, streak: int) -> None:
        """Count a failed poll and back off by ``streak``, the poller's failures before it."""
        if exc.code in FATAL_POLL_CODES:
            raise FatalError(f"cannot poll activity {self._rt.arn}: {exc.code}: {exc.message}")
        throttled = exc.outcome == "throttled" or exc.code == "ActivityWorkerLimitExceeded"
        self._count("throttled" if throttled else "error")
        now = anyio.current_time()
        if throttled and now - self._halved_at >= _HALVING_SECONDS:
            self._halved_at = now
            self.target = max(self.minimum, math.ceil(self.target / 2))
        self._failures += 1
        failing_for = self.failing_for()
        if failing_for > self._sup.settings.poll_failure_exit_seconds:
            raise FatalError(
                f"polls of activity {self._rt.name} have failed for {failing_for:.0f} s "
                f"(last: {exc.code}: {exc.message})"
            )
        delay = backoff(min(streak, 8), base=0.2, cap=30.0)
        extra = {
            "activity": self._rt.name,
            "code": exc.code,
            "outcome": exc.outcome,
            "attempt": streak + 1,
            "retry_in": round(delay, 2),
        }
        if throttled:
            # Refusals come by the thousand when a fleet outruns its bucket: one line per
            # refusal would bury every task's outcome line. Warn once per interval instead.
            self._log.debug("poll failed; backing off", extra=extra)
            self._throttled_unwarned += 1
            last = self._throttle_warned_at
            if last is None or now - last >= _THROTTLE_WARNING_SECONDS:
                # How many were refused since the last warning (1 for the first of a run).
                self._log.warning(
                    "polls throttled; backing off",
                    extra={
                        "activity": self._rt.name,
                        "code": exc.code,
                        "throttled": self._throttled_unwarned,
                        "pollers": self.target,
                    },
                )
                self._throttle_warned_at, self._throttled_unwarned = now, 0
        else:
            self._log.warning("poll failed; backing off", extra=extra)
        await anyio.sleep(delay)

    def _count(self, result: str) -> None:
        metrics = self._sup.metrics
        metrics.child(metrics.polls, self._rt.name, result).inc()
