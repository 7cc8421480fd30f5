"""The reliability invariant every fault test ends with: nothing handed to the fleet was lost.

``assert_nothing_lost`` reads every execution's history and each worker's own metrics, and
checks that

* every execution SUCCEEDED (its state machine retries the fleet's errors and timeouts),
  except those the test stopped itself, which ended ABORTED;
* every ActivityStarted was closed by ActivitySucceeded, ActivityFailed or ActivityTimedOut;
* a task nobody worked on timed out within its heartbeat timeout of the fault, and the service
  scheduled its retry within the retry interval after that, both on the endpoint's own clock
  (when a worker then took the retry is the *recovery time*, reported, not bounded: it depends
  on the workers' polls and the machine's speed);
* each worker's metrics account for every task it received: its completed outcomes add up to
  ``fleet_tasks_received_total``, none is ``unreported``, and each outcome matches what the
  service recorded for the tasks it handed to that worker;
* no task token appears in any log line or metric label of any worker.

It returns a ``Ledger`` with the numbers (tasks, retries, timeouts, recovery times) that
``docs/reliability.md`` reports.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from support.fleet_process import FleetProcess
from support.process import Samples, samples_of
from support.worker import history, wait_done

CLOSING = frozenset({"ActivitySucceeded", "ActivityFailed", "ActivityTimedOut"})
#: What a worker counts for a task that the service closed with this error.
OUTCOME_OF_ERROR = {"Fleet.Draining": "drained", "Fleet.Interrupted": "interrupted"}
OUTCOMES = ("succeeded", "failed", "cancelled", "drained", "interrupted", "unreported")

#: Runs of token characters long enough that finding one inside a token cannot be chance.
_TOKEN_RUN = re.compile(r"[A-Za-z0-9_=+/-]{20,}")


@dataclass(frozen=True)
class Attempt:
    """One activity task as the service recorded it: who took it and how it ended."""

    execution: str
    worker: str | None
    scheduled: float
    started: float
    ended: float
    end: str
    error: str | None

    @property
    def outcome(self) -> str:
        """The outcome label the worker that took this task should have counted."""
        if self.end == "ActivitySucceeded":
            return "succeeded"
        if self.end in ("ActivityTimedOut", "ExecutionAborted"):
            return "cancelled"
        return OUTCOME_OF_ERROR.get(self.error or "", "failed")


@dataclass
class WorkerReport:
    """What a worker says about itself: its metrics when it stopped, and its log lines."""

    name: str
    samples: Samples
    lines: list[str] = field(default_factory=list)

    @classmethod
    def of_process(cls, worker: FleetProcess) -> WorkerReport:
        """The report of a ``fleet run`` process that has exited by itself."""
        final = worker.final
        assert final is not None, f"{worker.name} did not exit by itself:\n" + "\n".join(
            worker.lines[-20:]
        )
        return cls(worker.name, final, list(worker.lines))

    @classmethod
    def of_registry(cls, name: str, registry: CollectorRegistry) -> WorkerReport:
        """The report of a worker running in the test's process."""
        return cls(name, samples_of(registry.collect()))

    def total(self, metric: str, **labels: str) -> float:
        """The sum of ``metric`` over every series whose labels include ``labels``."""
        want = set(labels.items())
        return sum(
            value
            for (name, series), value in self.samples.items()
            if name == metric and want <= set(series)
        )


@dataclass
class Ledger:
    """What happened to every task of a fault test, as the service recorded it."""

    executions: int
    attempts: list[Attempt]
    recoveries: list[float]
    workers: dict[str, dict[str, float]]

    @property
    def tasks(self) -> int:
        """Activity tasks handed out (ActivityStarted events), retries included."""
        return len(self.attempts)

    @property
    def retries(self) -> int:
        """Tasks beyond the first of each execution."""
        return self.tasks - self.executions

    def count(self, end: str | None = None, error: str | None = None) -> int:
        """Attempts that ended with event ``end`` and/or ``error``."""
        return sum(
            (end is None or a.end == end) and (error is None or a.error == error)
            for a in self.attempts
        )

    @property
    def timeouts(self) -> int:
        """Tasks closed by the heartbeat (or task) timeout."""
        return self.count("ActivityTimedOut")

    def summary(self) -> dict[str, Any]:
        """The numbers for the docs, printed by the tests (``pytest -s`` shows them)."""
        errors = Counter(a.error for a in self.attempts if a.end == "ActivityFailed")
        return {
            "executions": self.executions,
            "tasks": self.tasks,
            "retries": self.retries,
            "timeouts": self.timeouts,
            "failed_by_error": dict(errors),
            "recovery_seconds_min_max": (
                [round(min(self.recoveries), 2), round(max(self.recoveries), 2)]
                if self.recoveries
                else None
            ),
            "workers": self.workers,
        }


async def attempts_of(sfn: Any, execution: str) -> list[Attempt]:
    """The execution's activity tasks; fails if one was started and never closed."""
    events = await history(sfn, execution)
    out: list[Attempt] = []
    open_start: dict[str, Any] | None = None
    scheduled = 0.0
    for event in events:
        kind = event["type"]
        if kind == "ActivityScheduled":
            scheduled = event["timestamp"].timestamp()
        elif kind == "ActivityStarted":
            assert open_start is None, f"{execution}: a task started while another was open"
            open_start = event
        elif kind in CLOSING:
            assert open_start is not None, f"{execution}: {kind} without ActivityStarted"
            details = event.get(kind[0].lower() + kind[1:] + "EventDetails", {})
            started_details = open_start.get("activityStartedEventDetails", {})
            out.append(
                Attempt(
                    execution=execution,
                    worker=started_details.get("workerName"),
                    scheduled=scheduled,
                    started=open_start["timestamp"].timestamp(),
                    ended=event["timestamp"].timestamp(),
                    end=kind,
                    error=details.get("error"),
                )
            )
            open_start = None
        elif kind == "ExecutionAborted" and open_start is not None:
            # StopExecution closes the running task with the execution.
            out.append(
                Attempt(
                    execution=execution,
                    worker=open_start.get("activityStartedEventDetails", {}).get("workerName"),
                    scheduled=scheduled,
                    started=open_start["timestamp"].timestamp(),
                    ended=event["timestamp"].timestamp(),
                    end=kind,
                    error=None,
                )
            )
            open_start = None
    assert open_start is None, f"{execution}: ActivityStarted left without an outcome"
    return out


async def assert_nothing_lost(
    sfn: Any,
    executions: Iterable[str],
    workers: Iterable[WorkerReport],
    *,
    heartbeat_seconds: float,
    retry_seconds: float,
    since: float | None = None,
    unseen: Mapping[str, int] | None = None,
    stopped: Iterable[str] = (),
    slack: float = 1.5,
    timeout: float = 30.0,
    tokens: Iterable[str] = (),
) -> Ledger:
    """Check the invariant over ``executions`` and ``workers``; return what happened.

    ``heartbeat_seconds`` and ``retry_seconds`` are the state machine's HeartbeatSeconds and
    retry interval in *real* seconds. A task that timed out must have done so within
    ``heartbeat_seconds`` of its start or of ``since`` (the fault), whichever is later, and
    its retry must have been scheduled within ``retry_seconds`` more, each with ``slack``:
    the endpoint's own timers, late only if its event loop was held up that long.
    ``unseen`` counts, per worker, tasks the service handed to that worker's name that the
    worker could not have received (handed to a poll whose connection was gone).
    ``workers`` must be every worker that took part and reported; ``tokens`` the task
    tokens the service issued, none of which may appear in a worker's logs or metrics.
    ``stopped`` are executions the test stopped itself: they must end ABORTED instead.
    """
    arns = list(executions)
    aborted = set(stopped)
    done = await wait_done(sfn, arns, timeout=timeout)
    bad = {
        arn: (d["status"], d.get("error"))
        for arn, d in done.items()
        if d["status"] != ("ABORTED" if arn in aborted else "SUCCEEDED")
    }
    assert not bad, f"{len(bad)} of {len(arns)} executions ended badly: {list(bad.items())[:5]}"

    attempts: list[Attempt] = []
    recoveries: list[float] = []
    for arn in arns:
        mine = await attempts_of(sfn, arn)
        assert mine, f"{arn}: ended without an activity task"
        last = "ExecutionAborted" if arn in aborted else "ActivitySucceeded"
        assert mine[-1].end == last, f"{arn}: its last task ended {mine[-1].end}"
        for attempt, following in itertools.pairwise(mine):
            if attempt.end != "ActivityTimedOut":
                continue
            lost_at = max(attempt.started, since or attempt.started)
            waited = attempt.ended - lost_at
            assert waited <= heartbeat_seconds + slack, (
                f"{arn}: a task nobody worked on stayed open {waited:.2f} s "
                f"(heartbeat timeout {heartbeat_seconds} s)"
            )
            rescheduled = following.scheduled - lost_at
            assert rescheduled <= heartbeat_seconds + retry_seconds + slack, (
                f"{arn}: the retry was scheduled {rescheduled:.2f} s after the task was lost"
            )
            recoveries.append(following.started - lost_at)
        attempts.extend(mine)

    expected_unseen = dict(unseen or {})
    accounts: dict[str, dict[str, float]] = {}
    joined_tokens = "\n".join(tokens)
    for report in workers:
        accounts[report.name] = account = _account(report, attempts, expected_unseen)
        if joined_tokens:
            leaks = leaked_tokens([*report.lines, *_label_values(report.samples)], joined_tokens)
            assert not leaks, f"{report.name} shows task tokens: {leaks[:3]}"
        assert account["received"] > 0 or not any(a.worker == report.name for a in attempts)
    return Ledger(len(arns), attempts, recoveries, accounts)


def _account(
    report: WorkerReport, attempts: list[Attempt], unseen: Mapping[str, int]
) -> dict[str, float]:
    """Check one worker's metrics against the service's record; return its numbers."""
    received = report.total("fleet_tasks_received_total")
    by_outcome = {
        outcome: report.total("fleet_tasks_completed_total", outcome=outcome)
        for outcome in OUTCOMES
    }
    completed = sum(by_outcome.values())
    name = report.name
    assert completed == received, (
        f"{name}: received {received:g} tasks but completed {completed:g}: {by_outcome}"
    )
    assert by_outcome["unreported"] == 0, f"{name}: {by_outcome['unreported']:g} unreported"
    mine = [a for a in attempts if a.worker == name]
    hidden = unseen.get(name, 0)
    assert len(mine) == received + hidden, (
        f"{name}: the service handed it {len(mine)} tasks, it received {received:g} "
        f"(+{hidden} handed to polls whose connection was gone)"
    )
    service = Counter(a.outcome for a in mine)
    service["cancelled"] -= hidden  # timed out without the worker ever seeing them
    for outcome in OUTCOMES:
        assert by_outcome[outcome] == service.get(outcome, 0), (
            f"{name}: counted {by_outcome[outcome]:g} {outcome}, "
            f"the service recorded {service.get(outcome, 0)}: {by_outcome} against {service}"
            + "".join(f"\n  {a}" for a in mine if a.end != "ActivitySucceeded")
        )
    return {"received": received, **{k: v for k, v in by_outcome.items() if v}}


def _label_values(samples: Samples) -> list[str]:
    return [value for _, labels in samples for _, value in labels]


def leaked_tokens(texts: Iterable[str], joined_tokens: str) -> list[str]:
    """Pieces of ``texts`` that are part of a task token (``joined_tokens``, one a line)."""
    leaks = []
    for text in texts:
        for run in _TOKEN_RUN.findall(text):
            # Any 20 characters of a token, wherever the run of token characters starts.
            if any(run[i : i + 20] in joined_tokens for i in range(len(run) - 19)):
                leaks.append(run)
    return leaks
