"""The supervisor: owns the pollers and tasks of every activity, and stops them in stages.

Stopping comes in two kinds. A *stop* (batch mode: idle, or enough tasks done) ends polling
and lets everything that arrives run to the end. A *drain* (SIGTERM/SIGINT, or a fatal error)
has a budget: no new polls; polls in flight finish, and a task they bring runs like any
other; running tasks may finish until the budget's reserve, then are cancelled and failed back
with ``Fleet.Interrupted``, and a task that arrives after that is failed back with
``Fleet.Draining``. A second drain request skips to the fail-back.

Running what arrives, rather than failing it back at once, is what keeps a drain from costing a
task more than one attempt: a task failed back at once is retried, and a poll still open on the
draining worker may take the retry and fail it back again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio

from fleet._api import Api
from fleet._app import Activity
from fleet._heartbeat import HeartbeatScheduler
from fleet._logging import get_logger
from fleet._metrics import ActivitySnapshot, Metrics, Snapshot
from fleet._poller import PollerGroup
from fleet._reporting import Report, TaskOutcome
from fleet._runner import RunningTask
from fleet._settings import Settings
from fleet._slots import Slot, SlotPool
from fleet._threads import ThreadPool

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

_log = get_logger("supervisor")

#: Reports during a drain must be done this long before the budget ends (exit comes next).
_EXIT_MARGIN_SECONDS = 0.5
#: How long a cancelled handler may take to stop before its task is reported without it.
_HANDLER_GRACE_SECONDS = 1.0


class Mode(enum.Enum):
    """Where the supervisor is in its life."""

    RUNNING = "running"
    STOPPING = "stopping"  # batch: no new polls, everything that arrives runs to the end
    DRAINING = "draining"  # signal: no new polls, running tasks have until the reserve
    FAILING_BACK = "failing_back"  # running tasks are cancelled and failed back


@dataclass
class ActivityRuntime:
    """An activity as the supervisor runs it: resolved ARN, slots, pollers, running tasks."""

    activity: Activity
    arn: str
    heartbeat_seconds: float
    slots: SlotPool
    tasks: set[RunningTask] = field(default_factory=set)
    pollers: PollerGroup | None = None

    @property
    def name(self) -> str:
        """The activity's name (its metric label)."""
        return self.activity.name


class Supervisor:
    """Runs every activity's pollers and tasks; ``run()`` returns the process exit status."""

    def __init__(
        self,
        *,
        activities: list[tuple[Activity, str]],
        settings: Settings,
        api: Api,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.api = api
        self.metrics = metrics
        self.threads = ThreadPool(settings.threads)
        self.heartbeats = HeartbeatScheduler.for_settings(api, metrics, settings)
        process = anyio.CapacityLimiter(settings.concurrency)
        self._process_slots = process
        self.runtimes: list[ActivityRuntime] = []
        for activity, arn in activities:
            capacity = min(activity.concurrency or settings.concurrency, settings.concurrency)
            runtime = ActivityRuntime(
                activity=activity,
                arn=arn,
                heartbeat_seconds=activity.heartbeat_seconds or settings.heartbeat_seconds,
                slots=SlotPool(capacity, process),
            )
            runtime.pollers = PollerGroup(self, runtime)
            self.runtimes.append(runtime)
            metrics.add_activity(activity.name)
        self.mode = Mode.RUNNING
        self.fatal: BaseException | None = None
        self.received = 0
        self.last_activity = anyio.current_time()
        self._started = False
        self._changed = anyio.Event()
        self._stop_requested = anyio.Event()
        self._hard_deadline = float("inf")
        self._failback_at = float("inf")
        self._tasks_tg: anyio.abc.TaskGroup | None = None
        #: What the app's lifespan yielded; handlers reach it as ``task.state``.
        self.state: Any = None
        #: Handlers still running after their task was reported (they ignored cancellation).
        self.abandoned = 0
        #: True once a stop was asked to hurry (a second signal, a fatal error).
        self.urgent = False
        #: Called with the budget's end (``anyio.current_time()`` clock) when a drain begins.
        self.on_drain: Callable[[float], None] | None = None
        # With --max-tasks, each poll in flight holds one of the tasks still to take, and a
        # poll that comes back empty hands its place to the poller waiting longest (FIFO), so
        # that an idle activity's polls cannot starve another's.
        self._poll_budget = (
            anyio.Semaphore(settings.max_tasks) if settings.max_tasks is not None else None
        )
        metrics.snapshot = self.snapshot

    # -- state the other parts read -------------------------------------------------------

    @property
    def accepting(self) -> bool:
        """True while new polls may start."""
        return self.mode is Mode.RUNNING

    @property
    def draining(self) -> bool:
        """True once a drain has begun (tasks that arrive still run until the fail-back)."""
        return self.mode in (Mode.DRAINING, Mode.FAILING_BACK)

    @property
    def drain_deadline(self) -> float | None:
        """When the drain budget ends (``anyio.current_time()`` clock); None without a drain."""
        return None if self._hard_deadline == float("inf") else self._hard_deadline

    @property
    def failing_back(self) -> bool:
        """True once running tasks are being cancelled and failed back."""
        return self.mode is Mode.FAILING_BACK

    @property
    def in_flight(self) -> int:
        """Tasks running or being reported, across activities."""
        return sum(len(rt.tasks) for rt in self.runtimes)

    @property
    def polls_in_flight(self) -> int:
        """Long polls waiting for an answer, across activities."""
        return sum(rt.pollers.in_flight for rt in self.runtimes if rt.pollers)

    async def take_poll_budget(self) -> None:
        """Wait until a poll may start without risking more than ``max_tasks`` tasks in all."""
        if self._poll_budget is not None:
            await self._poll_budget.acquire()

    def return_poll_budget(self) -> None:
        """Give back a poll's place: it brought no task."""
        if self._poll_budget is not None:
            self._poll_budget.release()

    def report_deadline(self, window_closes: float = 0.0) -> float:
        """When reporting a result must give up (sooner during a drain).

        Not before ``window_closes``, the end of the task's heartbeat window: until then the
        service still takes the result, so a throttled report keeps trying.
        """
        soon = max(anyio.current_time() + self.settings.report_deadline_seconds, window_closes)
        return min(soon, self._hard_deadline - _EXIT_MARGIN_SECONDS)

    def handler_grace_seconds(self) -> float:
        """How long a cancelled handler may take to stop before its task is reported anyway.

        During a drain it is a small part of the reserve, which is kept for the reports.
        """
        return min(_HANDLER_GRACE_SECONDS, self.settings.drain_reserve_seconds / 4)

    def handler_abandoned(self, task: RunningTask, done: anyio.Event) -> None:
        """Note a handler that did not stop when cancelled; its task is reported without it."""
        self.abandoned += 1
        task.log.error(
            "the handler did not stop when cancelled; reporting its task without it",
            extra={"reason": task.cancel_reason or "timeout"},
        )

        async def watch() -> None:
            await done.wait()
            self.abandoned -= 1

        assert self._tasks_tg is not None
        self._tasks_tg.start_soon(watch)

    def snapshot(self) -> Snapshot:
        """The live numbers for the metrics, taken at scrape time."""
        polls = self.polls_in_flight
        return Snapshot(
            activities=tuple(
                ActivitySnapshot(
                    activity=rt.name,
                    in_flight=len(rt.tasks),
                    slots_capacity=rt.slots.capacity,
                    slots_in_use=rt.slots.in_use,
                    pollers=rt.pollers.running if rt.pollers else 0,
                    polls_in_flight=rt.pollers.in_flight if rt.pollers else 0,
                    last_successful_poll=rt.pollers.last_ok_unix if rt.pollers else 0.0,
                )
                for rt in self.runtimes
            ),
            concurrency=self.settings.concurrency,
            process_slots_capacity=min(
                self.settings.concurrency, sum(rt.slots.capacity for rt in self.runtimes)
            ),
            process_slots_tasks=max(0, int(self._process_slots.borrowed_tokens) - polls),
            process_slots_polls=polls,
            draining=self.draining,
            ready=self.ready,
        )

    @property
    def ready(self) -> bool:
        """True while every activity has pollers running whose polls do not keep failing.

        Not ready either while the worker stops or drains.
        """
        limit = self.settings.poll_failure_unready_seconds
        return (
            self._started
            and self.mode is Mode.RUNNING
            and all(
                rt.pollers is not None
                and rt.pollers.running > 0
                and rt.pollers.failing_for() < limit
                for rt in self.runtimes
            )
        )

    # -- requests from outside ------------------------------------------------------------

    def drain(self, reason: str, *, immediate: bool = False) -> None:
        """Begin the drain, or skip to the fail-back if it has begun. Safe to call repeatedly.

        ``immediate`` skips straight to the fail-back, as a second request would.
        """
        now = anyio.current_time()
        if self.mode in (Mode.RUNNING, Mode.STOPPING):
            self._hard_deadline = now + self.settings.drain_seconds
            self._failback_at = self._hard_deadline - self.settings.drain_reserve_seconds
            self.mode = Mode.DRAINING
            _log.warning(
                "draining: no new polls; running tasks may finish before the fail-back",
                extra={
                    "reason": reason,
                    "drain_seconds": self.settings.drain_seconds,
                    "in_flight": self.in_flight,
                    "polls_in_flight": self.polls_in_flight,
                },
            )
            for rt in self.runtimes:
                if rt.pollers:
                    rt.pollers.limit_polls(self._hard_deadline)
            if self.on_drain is not None:
                self.on_drain(self._hard_deadline)
        elif self.mode is Mode.DRAINING:
            _log.warning(
                "second stop request: failing back running tasks now", extra={"reason": reason}
            )
            self._failback_at = now
            self.urgent = True
        if immediate:
            self._failback_at = now
            self.urgent = True
        self._stop_requested.set()
        self.changed()

    def stop(self, reason: str) -> None:
        """Stop polling and let everything already received run to the end (batch mode)."""
        if self.mode is Mode.RUNNING:
            self.mode = Mode.STOPPING
            _log.info(
                "stopping: no new polls; running tasks finish",
                extra={"reason": reason, "in_flight": self.in_flight},
            )
            self._stop_requested.set()
            self.changed()

    def fail(self, exc: BaseException) -> None:
        """A part of the worker cannot go on: fail back what runs, then exit non-zero."""
        if self.fatal is None:
            self.fatal = exc
            _log.error("fatal: %s", exc)
        self.drain("fatal error", immediate=True)

    # -- notifications from pollers and tasks ----------------------------------------------

    def changed(self) -> None:
        """Wake whoever waits for the state to change."""
        self._changed.set()
        self._changed = anyio.Event()

    def next_change(self) -> anyio.Event:
        """The event set at the next change of state (take it before reading the state)."""
        return self._changed

    async def wait_changed(self) -> None:
        """Wait for the next change of state."""
        await self._changed.wait()

    def note_received(self) -> None:
        """Count a task handed to this worker (for ``max_tasks`` and idle detection)."""
        self.received += 1
        self.last_activity = anyio.current_time()
        limit = self.settings.max_tasks
        if limit is not None and self.received >= limit:
            self.stop(f"received {limit} tasks (--max-tasks)")

    def start_task(self, runtime: ActivityRuntime, token: str, raw_input: str, slot: Slot) -> None:
        """Run a task just received, in the supervisor's task group."""
        task = RunningTask(self, runtime, token, raw_input, slot)
        runtime.tasks.add(task)
        assert self._tasks_tg is not None
        self._tasks_tg.start_soon(task.run)

    def start_handler(self, call: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run a task's handler call beside the task, in the supervisor's task group."""
        assert self._tasks_tg is not None
        self._tasks_tg.start_soon(call)

    def task_finished(
        self, task: RunningTask, outcome: TaskOutcome, seconds: float, report: Report | None
    ) -> None:
        """Record a task's end (called once per task, once its outcome is reported)."""
        task.runtime.tasks.discard(task)
        self.task_completed(task.runtime.name, outcome, seconds, report)

    def task_completed(
        self, activity: str, outcome: TaskOutcome, seconds: float, report: Report | None
    ) -> None:
        """Count one task's outcome, error name and duration."""
        error = report.error if report is not None and report.output is None else None
        self.metrics.task_completed(activity, outcome, error, seconds)
        self.last_activity = anyio.current_time()
        self.changed()

    # -- the life of the supervisor --------------------------------------------------------

    async def run(self) -> int:
        """Poll and run tasks until stopped; return 0 when everything was reported."""
        try:
            async with anyio.create_task_group() as control:
                control.start_soon(self.heartbeats.run)
                async with anyio.create_task_group() as tasks_tg:
                    self._tasks_tg = tasks_tg
                    async with anyio.create_task_group() as pollers_tg:
                        for rt in self.runtimes:
                            assert rt.pollers is not None
                            pollers_tg.start_soon(rt.pollers.run)
                        control.start_soon(self._control, pollers_tg.cancel_scope)
                        self._started = True
                        self.changed()
                    # Every poll has finished; what remains are tasks being run or reported.
                control.cancel_scope.cancel()
        finally:
            self.threads.close()
        return self._exit_status()

    async def _control(self, pollers: anyio.CancelScope) -> None:
        await self._stop_requested.wait()
        pollers.cancel()
        while True:
            if self.mode is Mode.DRAINING:
                await self._wait_until(
                    lambda: self.in_flight == 0 and self.polls_in_flight == 0,
                    deadline=lambda: self._failback_at,
                )
                self._fail_back_running()
            else:
                await self.wait_changed()

    def _fail_back_running(self) -> None:
        running = [task for rt in self.runtimes for task in rt.tasks]
        self.mode = Mode.FAILING_BACK
        if running:
            _log.warning(
                "drain budget reserve reached: failing back running tasks",
                extra={"tasks": len(running)},
            )
        for task in running:
            task.cancel("interrupted")
        self.changed()

    async def _wait_until(self, done: Callable[[], bool], deadline: Callable[[], float]) -> None:
        while not done():
            remaining = deadline() - anyio.current_time()
            if remaining <= 0:
                return
            with anyio.move_on_after(remaining):
                await self.wait_changed()

    def _exit_status(self) -> int:
        if self.fatal is not None:
            return 1
        stuck = self.abandoned + self.threads.busy
        if stuck:
            _log.error(
                "handlers still running at exit: they did not stop when cancelled",
                extra={"handlers": stuck},
            )
            return 1
        return 0
