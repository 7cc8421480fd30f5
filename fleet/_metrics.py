"""Every Prometheus metric the worker exports, declared once against an injectable registry.

Counters and histograms are updated where things happen; gauges that describe the present
(slots, pollers, in flight, draining, ready) are computed at scrape time from the supervisor,
so they cannot drift from the truth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fleet import _errors
from fleet._version import __version__

# `_created` series double the output and no dashboard or alert reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

TASK_OUTCOMES = ("succeeded", "failed", "cancelled", "drained", "interrupted", "unreported")
#: Distinct handler error names counted per activity; later ones are counted as ``other``.
MAX_ERROR_LABELS = 20
OTHER_ERROR = "other"
#: The worker's own error names: a fixed set, never capped.
FLEET_ERRORS = frozenset(
    {
        _errors.DRAINING,
        _errors.INTERRUPTED,
        _errors.TIMEOUT,
        _errors.INVALID_OUTPUT,
        _errors.OUTPUT_TOO_LARGE,
        _errors.INVALID_INPUT,
    }
)
#: The ``tasks_completed_total`` series created at 0 for each activity, so that rates exist
#: from the start: every outcome with the error it carries when the worker decides it.
_COMPLETED_AT_START = (
    ("succeeded", ""),
    ("cancelled", ""),
    ("unreported", ""),
    ("drained", _errors.DRAINING),
    ("interrupted", _errors.INTERRUPTED),
    ("failed", _errors.TIMEOUT),
    ("failed", _errors.INVALID_OUTPUT),
    ("failed", _errors.OUTPUT_TOO_LARGE),
)
POLL_RESULTS = ("task", "empty", "error", "throttled")
HEARTBEAT_RESULTS = ("ok", "task_gone", "error", "throttled")
API_OUTCOMES = ("ok", "throttled", "client_error", "server_error", "network_error")
API_OPERATIONS = (
    "GetActivityTask",
    "SendTaskSuccess",
    "SendTaskFailure",
    "SendTaskHeartbeat",
    "DescribeActivity",
    "ListActivities",
    "TaskProtection",
)

_TASK_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
    300,
    600,
    1800,
    3600,
    7200,
)
_POLL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 65)
_API_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 70)
_SLACK_BUCKETS = (0.25, 0.5, 1, 2, 3, 4, 5, 7.5, 10, 15, 30, 60, 120, 300)
_START_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)


@dataclass(frozen=True)
class ActivitySnapshot:
    """The live numbers of one activity at scrape time."""

    activity: str
    in_flight: int
    slots_capacity: int
    slots_in_use: int
    pollers: int
    polls_in_flight: int
    last_successful_poll: float = 0.0


@dataclass(frozen=True)
class Snapshot:
    """The live state of the process at scrape time."""

    activities: tuple[ActivitySnapshot, ...] = ()
    concurrency: int = 0
    #: Slots the whole process may use: the process cap, or the activities' sum if lower.
    process_slots_capacity: int = 0
    #: Process slots held by tasks (running, being reported) and by polls in flight.
    process_slots_tasks: int = 0
    process_slots_polls: int = 0
    draining: bool = False
    ready: bool = False
    task_protection: bool = False
    event_loop_lag_seconds: float = 0.0


@dataclass
class Metrics:
    """The worker's metrics. Tests read them with ``registry.get_sample_value``."""

    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )
    snapshot: Callable[[], Snapshot] = Snapshot

    def __post_init__(self) -> None:
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._errors_seen: dict[str, set[str]] = {}
        r = self.registry
        self.tasks_received = Counter(
            "fleet_tasks_received",
            "Tasks handed to this worker by GetActivityTask.",
            ["activity"],
            registry=r,
        )
        self.tasks_completed = Counter(
            "fleet_tasks_completed",
            "Tasks finished by this worker, by how they ended and the error name reported "
            f"(at most {MAX_ERROR_LABELS} names per activity, then {OTHER_ERROR!r}).",
            ["activity", "outcome", "error"],
            registry=r,
        )
        self.task_duration = Histogram(
            "fleet_task_duration_seconds",
            "Time from receiving a task to reporting its outcome.",
            ["activity", "outcome"],
            buckets=_TASK_BUCKETS,
            registry=r,
        )
        self.polls = Counter(
            "fleet_polls",
            "GetActivityTask long polls, by result.",
            ["activity", "result"],
            registry=r,
        )
        self.poll_duration = Histogram(
            "fleet_poll_duration_seconds",
            "How long GetActivityTask long polls took.",
            ["activity"],
            buckets=_POLL_BUCKETS,
            registry=r,
        )
        self.heartbeats = Counter(
            "fleet_heartbeats",
            "SendTaskHeartbeat calls, by result.",
            ["activity", "result"],
            registry=r,
        )
        self.api_requests = Counter(
            "fleet_api_requests",
            "Calls to AWS APIs (every attempt), by outcome.",
            ["operation", "outcome"],
            registry=r,
        )
        self.api_duration = Histogram(
            "fleet_api_request_duration_seconds",
            "Duration of AWS API calls (every attempt).",
            ["operation"],
            buckets=_API_BUCKETS,
            registry=r,
        )
        self.schedule_to_start = Histogram(
            "fleet_schedule_to_start_seconds",
            "Time from the Task state being entered to this worker receiving the task "
            "(when the input carries the entered time).",
            ["activity"],
            buckets=_START_BUCKETS,
            registry=r,
        )
        self.heartbeat_slack = Histogram(
            "fleet_heartbeat_slack_seconds",
            "Time left in a task's HeartbeatSeconds window when its heartbeat was answered.",
            ["activity"],
            buckets=_SLACK_BUCKETS,
            registry=r,
        )
        self.build_info = Gauge(
            "fleet_build_info",
            "Always 1; the version label names the running release.",
            ["version"],
            registry=r,
        )
        self.build_info.labels(version=__version__).set(1)
        for operation in API_OPERATIONS:
            for outcome in API_OUTCOMES:
                self.api_requests.labels(operation=operation, outcome=outcome)
            self.api_duration.labels(operation=operation)
        r.register(_LiveCollector(self))
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)

    def error_label(self, activity: str, error: str | None) -> str:
        """The ``error`` label for a task of ``activity`` that reported ``error``.

        The worker's own error names are always themselves; a handler's are themselves for the
        first ``MAX_ERROR_LABELS`` distinct names of the activity, then ``other``, so that a
        handler putting, say, an id in its error names cannot grow the series without bound.
        """
        if not error or error in FLEET_ERRORS:
            return error or ""
        seen = self._errors_seen.setdefault(activity, set())
        if error in seen:
            return error
        if len(seen) >= MAX_ERROR_LABELS:
            return OTHER_ERROR
        seen.add(error)
        return error

    def task_completed(
        self, activity: str, outcome: str, error: str | None, seconds: float
    ) -> None:
        """Count one task's end: its outcome, error name and duration."""
        label = self.error_label(activity, error)
        self.child(self.tasks_completed, activity, outcome, label).inc()
        self.child(self.task_duration, activity, outcome).observe(seconds)

    def total(self, name: str, **labels: str) -> float:
        """The sum of sample ``name`` over every series whose labels include ``labels``."""
        want = labels.items()
        return sum(
            sample.value
            for family in self.registry.collect()
            for sample in family.samples
            if sample.name == name and want <= sample.labels.items()
        )

    def child(self, metric: Any, *values: str) -> Any:
        """``metric.labels(*values)``, remembered: the hot path calls this per task."""
        key = (id(metric), values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return found

    def add_activity(self, activity: str) -> None:
        """Create every labelled series of ``activity`` at zero, so rates exist from the start."""
        self.tasks_received.labels(activity=activity)
        for outcome, error in _COMPLETED_AT_START:
            self.tasks_completed.labels(activity=activity, outcome=outcome, error=error)
        for outcome in TASK_OUTCOMES:
            self.task_duration.labels(activity=activity, outcome=outcome)
        for result in POLL_RESULTS:
            self.polls.labels(activity=activity, result=result)
        for result in HEARTBEAT_RESULTS:
            self.heartbeats.labels(activity=activity, result=result)
        self.poll_duration.labels(activity=activity)
        self.schedule_to_start.labels(activity=activity)
        self.heartbeat_slack.labels(activity=activity)


_PER_ACTIVITY: tuple[tuple[str, str, str], ...] = (
    ("fleet_tasks_in_flight", "Tasks this worker is running or reporting.", "in_flight"),
    (
        "fleet_slots_capacity",
        "Slots (concurrent tasks) this activity may use; the process cap is "
        "fleet_process_slots_capacity.",
        "slots_capacity",
    ),
    ("fleet_slots_in_use", "Slots taken by a poll in flight or a task.", "slots_in_use"),
    ("fleet_pollers", "Poller loops running.", "pollers"),
    (
        "fleet_polls_in_flight",
        "GetActivityTask long polls waiting for an answer.",
        "polls_in_flight",
    ),
    (
        "fleet_last_successful_poll_timestamp_seconds",
        "Unix time of the last GetActivityTask that was answered (a task or empty), or of the "
        "start; a long poll may take 60 s to answer.",
        "last_successful_poll",
    ),
)


class _LiveCollector(Collector):
    """Computes the gauges that describe the present from the supervisor at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return self._families(Snapshot())

    def collect(self) -> Iterable[Metric]:
        return self._families(self._metrics.snapshot())

    def _families(self, snap: Snapshot) -> Iterator[Metric]:
        for name, help_text, attribute in _PER_ACTIVITY:
            family = GaugeMetricFamily(name, help_text, labels=["activity"])
            for item in snap.activities:
                family.add_metric([item.activity], getattr(item, attribute))
            yield family
        yield GaugeMetricFamily(
            "fleet_process_slots_capacity",
            "Slots (concurrent tasks) the whole process may use, across activities.",
            value=snap.process_slots_capacity,
        )
        in_use = GaugeMetricFamily(
            "fleet_process_slots_in_use",
            "Process slots taken, by holder: a task (running or being reported) or a poll in "
            "flight. A poll holds a slot so that a task it brings can start at once, so an idle "
            "worker shows its slots held by polls.",
            labels=["holder"],
        )
        in_use.add_metric(["task"], snap.process_slots_tasks)
        in_use.add_metric(["poll"], snap.process_slots_polls)
        yield in_use
        yield GaugeMetricFamily(
            "fleet_draining",
            "1 while the worker drains after SIGTERM/SIGINT.",
            value=float(snap.draining),
        )
        yield GaugeMetricFamily(
            "fleet_ready",
            "1 while pollers run and the worker is not draining.",
            value=float(snap.ready),
        )
        yield GaugeMetricFamily(
            "fleet_ecs_task_protection",
            "1 while ECS scale-in protection is on for this task.",
            value=float(snap.task_protection),
        )
        yield GaugeMetricFamily(
            "fleet_event_loop_lag_seconds",
            "How late the event loop ran a timer at the last check; high means blocked.",
            value=snap.event_loop_lag_seconds,
        )
