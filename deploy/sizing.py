"""Fleet sizing: pure functions from the stack's sizing inputs to tasks, slots, rates and cost.

Every number `size` prints comes from these formulas (λ = arrival rate, W = handler duration,
U = target utilisation, n = number of activities; each activity is assumed to receive λ tasks
per second with the same duration, since every execution runs each activity once):

1. Arrival rate per activity. Service mode: λ = ``arrival_rate_per_second``. Batch mode: the
   last task must still finish by the deadline, so λ = tasks_per_run / (deadline - W_p95).
2. Little's law, L = λ*W: mean in flight L_mean = λ*W_mean; with the p95 duration as headroom
   for variance, L_p95 = λ*W_p95.
3. Concurrency per activity C_a = ceil(L_p95 / U); the fleet needs C = n*C_a slots.
4. Slots per Fargate task of size (vCPU, MiB):
   slots = min(floor((vCPU - base_vcpu) / vcpu_per_inflight),
               floor((MiB - base_memory_mib) / memory_mib_per_inflight), max_slots_per_task).
5. Task size: the valid Fargate size with the lowest hourly cost for
   tasks = max(min_tasks, ceil(C / slots)); ties go to fewer tasks, then the smaller size.
   ``task_cpu``/``task_memory`` pin it instead.
6. Tasks: service min = ``min_tasks`` (1), desired = max(min, ceil(C / slots)),
   max = ``max_tasks`` or 2*desired. Batch: desired = ceil(C / slots) per run, min 0.
7. Pollers per task and activity: max = min(floor(slots / n), floor(1000 / max tasks),
   ceil(100 / desired)) but at least 1, so the fleet stays within AWS's 1,000 concurrent
   GetActivityTask callers per activity ARN and near the recommended 100 open polls;
   min = ceil(max / 2). Fleet pollers = tasks * max pollers.
8. API rates, summed over activities and checked against the per-account, per-Region
   refill (500/s in us-east-1, us-west-2, eu-west-1; 300/s elsewhere):
   polls/s = λ + (desired * max pollers) / 60 (each idle long poll returns within 60 s);
   results/s = λ (SendTaskSuccess/SendTaskFailure);
   heartbeats/s = L_mean / interval(heartbeat_seconds), where the worker beats once per
   interval = HeartbeatSeconds - margin (``fleet._quota``, the module the worker uses: the
   margin covers one attempt's timeout, a retry pause and a second attempt; 5 s at 60 s).
   The heartbeat ceiling of the region is refill * interval tasks in flight (27,500 at
   HeartbeatSeconds 60 in a large region), shared by every activity of the account.
   FLEET_API_RATE, each worker's share of every per-task bucket, is refill / max tasks.
9. Cost per hour = desired * (vCPU * $/vCPU-hour + GB * $/GB-hour); with a Spot share s and
   discount d the blended price is on_demand * (1 - s*d). Per million activity tasks: service
   = hourly / (n*λ*3600) * 10⁶; batch = cost per run / (n*tasks_per_run) * 10⁶, where a run
   lasts n*tasks_per_run*W_mean / (desired*slots) + exit_when_idle_seconds (at least 60 s).
10. The Spot share spares the base task: a mixed strategy (0 < s < 1) runs one on-demand task
   first, so the fleet pays on_demand * (1 + (desired - 1) * (1 - s*d)).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from deploy import fargate
from deploy.fargate import TaskSize
from deploy.stack import Stack
from fleet import _quota

DRAIN_SECONDS = 100  # FLEET_DRAIN_SECONDS, below the container stopTimeout of 120 s
_EPS = 1e-9  # absorbs binary rounding: (0.25 - 0.05) / 0.01 is 19.999999999999996

Severity = Literal["error", "warning", "note"]


def _floor(x: float) -> int:
    return math.floor(x + _EPS)


def _ceil(x: float) -> int:
    return math.ceil(x - _EPS)


@dataclass(frozen=True)
class Finding:
    """A limit the sizing breaks (or comes near), with the change that fixes it.

    ``error`` stops `apply`; ``warning`` is a quota or limit that would be broken at runtime;
    ``note`` is a recommendation.
    """

    severity: Severity
    limit: str
    message: str


@dataclass(frozen=True)
class ActivityLoad:
    """The load one activity puts on the fleet and on the Step Functions API."""

    name: str
    heartbeat_seconds: int
    arrival_rate_per_second: float
    inflight_mean: float
    inflight_p95: float
    concurrency: int
    fleet_pollers_desired: int
    fleet_pollers_max: int
    polls_per_second: float
    results_per_second: float
    heartbeats_per_second: float
    heartbeat_ceiling: int


@dataclass(frozen=True)
class Sizing:
    """The result of `size`: what `apply` puts in the task definition, service and autoscaling."""

    mode: str
    region: str
    architecture: str
    cpu: int
    memory: int
    slots_per_task: int
    concurrency: int
    tasks_min: int
    tasks_desired: int
    tasks_max: int
    min_pollers_per_task: int
    max_pollers_per_task: int
    heartbeat_seconds: int
    activities: tuple[ActivityLoad, ...]
    api_refill_per_second: int
    polls_per_second: float
    results_per_second: float
    heartbeats_per_second: float
    heartbeat_ceiling: int
    inflight_mean: float
    api_rate_per_task: float
    cost_per_hour: dict[str, float]
    cost_per_million_tasks: dict[str, float]
    run_seconds: float | None = None
    cost_per_run: float | None = None
    findings: tuple[Finding, ...] = field(default=())

    @property
    def size(self) -> TaskSize:
        """The chosen Fargate task size."""
        return TaskSize(self.cpu, self.memory)

    @property
    def errors(self) -> list[Finding]:
        """Findings that make the sizing unusable for `apply`."""
        return [f for f in self.findings if f.severity == "error"]

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every field."""
        return asdict(self)


def arrival_rate(stack: Stack) -> float:
    """λ per activity in tasks/s; inf in batch mode when the deadline is not above the p95.

    Batch example: 9,000 tasks per run, deadline 3,600 s, p95 600 s:
    λ = 9000 / (3600 - 600) = 3.0 tasks/s.
    """
    sizing = stack.sizing
    if stack.mode == "batch":
        tasks = sizing.tasks_per_run or 0
        window = (sizing.deadline_seconds or 0) - sizing.duration_p95_seconds
        return tasks / window if window > 0 else math.inf
    return sizing.arrival_rate_per_second or 0.0


def slots_for(size: TaskSize, stack: Stack) -> int:
    """How many in-flight tasks one Fargate task of ``size`` holds (0 if none fit).

    For 0.25 vCPU / 512 MiB with base 0.05 vCPU and 256 MiB, 0.01 vCPU and 16 MiB per task:
    min(floor(0.20 / 0.01), floor(256 / 16), 256) = min(20, 16, 256) = 16.
    """
    s = stack.sizing
    by_cpu = _floor((size.vcpu - s.base_vcpu) / s.vcpu_per_inflight)
    by_memory = _floor((size.memory - s.base_memory_mib) / s.memory_mib_per_inflight)
    return max(0, min(by_cpu, by_memory, s.max_slots_per_task))


def choose_size(stack: Stack, concurrency: int, min_tasks: int) -> tuple[TaskSize, int] | None:
    """The cheapest valid size (and its slots) for ``concurrency``, or None if none fits."""
    s = stack.sizing
    if s.task_cpu is not None and s.task_memory is not None:
        pinned = TaskSize(s.task_cpu, s.task_memory)
        slots = slots_for(pinned, stack)
        return (pinned, slots) if slots > 0 else None
    best: tuple[float, int, int, int, TaskSize, int] | None = None
    for size in fargate.valid_sizes():
        slots = slots_for(size, stack)
        if slots <= 0:
            continue
        tasks = max(min_tasks, 1, _ceil(concurrency / slots))
        cost = round(tasks * fargate.hourly_price(size, stack.architecture), 9)
        key = (cost, tasks, size.cpu, size.memory, size, slots)
        if best is None or key[:4] < best[:4]:
            best = key
    return (best[4], best[5]) if best else None


def size_stack(stack: Stack) -> Sizing:
    """Size the fleet for ``stack``; limits it breaks are in ``findings``, never raised."""
    s = stack.sizing
    findings: list[Finding] = []
    n = len(stack.activities)
    lam = arrival_rate(stack)
    batch = stack.mode == "batch"
    if batch and not math.isfinite(lam):
        findings.append(
            Finding(
                "error",
                "batch deadline",
                f"deadline_seconds ({s.deadline_seconds:g}) must exceed duration_p95_seconds "
                f"({s.duration_p95_seconds:g}) so the last task can finish: raise "
                "sizing.deadline_seconds",
            )
        )
        lam = 0.0
    inflight_mean = lam * s.duration_mean_seconds
    inflight_p95 = lam * s.duration_p95_seconds
    per_activity = max(1, _ceil(inflight_p95 / s.target_utilization)) if lam > 0 else 0
    concurrency = n * per_activity

    min_tasks = 0 if batch else (s.min_tasks if s.min_tasks is not None else 1)
    chosen = choose_size(stack, concurrency, min_tasks)
    if chosen is None:
        findings.append(
            Finding(
                "error",
                "Fargate task size",
                "no Fargate size holds even one in-flight task after the base overhead "
                f"({s.base_vcpu:g} vCPU, {s.base_memory_mib} MiB): lower "
                "sizing.vcpu_per_inflight / memory_mib_per_inflight or pin a larger "
                "sizing.task_cpu / task_memory",
            )
        )
        size, slots = TaskSize(256, 512), 1
    else:
        size, slots = chosen

    needed = max(1, _ceil(concurrency / slots)) if concurrency else 1
    if batch:
        desired = needed
        tasks_min = 0
        tasks_max = s.max_tasks if s.max_tasks is not None else desired
    else:
        tasks_min = min_tasks
        desired = max(tasks_min, needed)
        tasks_max = s.max_tasks if s.max_tasks is not None else max(2 * desired, tasks_min, 1)
    if tasks_max < desired:
        findings.append(
            Finding(
                "warning",
                "max tasks",
                f"sizing.max_tasks ({tasks_max}) is below the {desired} tasks needed for "
                f"{concurrency} concurrent tasks at {slots} slots per task: raise "
                f"sizing.max_tasks to ≥ {desired}",
            )
        )
        desired = tasks_max

    share = max(1, slots // n)
    if s.max_pollers_per_task is not None:
        max_pollers = s.max_pollers_per_task
        if max_pollers > share:
            findings.append(
                Finding(
                    "note",
                    "pollers per task",
                    f"max_pollers_per_task ({max_pollers}) is above the {share} slots per "
                    "activity; the worker never polls with more pollers than free slots",
                )
            )
    else:
        cap = _floor(fargate.MAX_POLLERS_PER_ACTIVITY / tasks_max)
        target = _ceil(fargate.RECOMMENDED_POLLERS_PER_ACTIVITY / max(desired, 1))
        max_pollers = max(1, min(share, cap, target))
    min_pollers = max(1, _ceil(max_pollers / 2))

    refill = fargate.api_refill_per_second(stack.region)
    loads: list[ActivityLoad] = []
    for activity in stack.activities:
        fleet_desired = desired * max_pollers
        loads.append(
            ActivityLoad(
                name=activity.name,
                heartbeat_seconds=activity.heartbeat_seconds,
                arrival_rate_per_second=lam,
                inflight_mean=inflight_mean,
                inflight_p95=inflight_p95,
                concurrency=per_activity,
                fleet_pollers_desired=fleet_desired,
                fleet_pollers_max=tasks_max * max_pollers,
                polls_per_second=lam + fleet_desired / 60,
                results_per_second=lam,
                heartbeats_per_second=_quota.beats_per_second(
                    inflight_mean, activity.heartbeat_seconds
                ),
                heartbeat_ceiling=_quota.ceiling(stack.region, activity.heartbeat_seconds),
            )
        )
    polls = sum(a.polls_per_second for a in loads)
    results = sum(a.results_per_second for a in loads)
    heartbeats = sum(a.heartbeats_per_second for a in loads)
    findings += _api_findings(stack, loads, max_pollers, tasks_max, refill, polls, results)
    findings += _heartbeat_findings(stack, loads, heartbeats, refill)
    findings += _duration_findings(stack, desired)

    arch = stack.architecture
    price = {
        "x86_64": fargate.hourly_price(size, "x86_64"),
        "arm64": fargate.hourly_price(size, "arm64"),
        "blended": fargate.blended_hourly_price(size, arch, s.spot_share, s.spot_discount),
    }
    cost_per_hour = {key: desired * value for key, value in price.items()}
    # A mixed strategy runs one on-demand base task; the Spot share applies to the others.
    cost_per_hour["blended"] = fargate.fleet_hourly_price(
        size, arch, desired, s.spot_share, s.spot_discount
    )
    run_seconds: float | None = None
    cost_per_run: float | None = None
    if batch:
        per_run = s.tasks_per_run or 0
        work = n * per_run * s.duration_mean_seconds
        run_seconds = max(60.0, work / (desired * slots) + stack.worker.exit_when_idle_seconds)
        runs = {key: value * run_seconds / 3600 for key, value in cost_per_hour.items()}
        cost_per_run = runs["blended"]
        per_million = {k: v / (n * per_run) * 1e6 for k, v in runs.items()}
    else:
        per_second = n * lam
        per_million = {k: v / (per_second * 3600) * 1e6 for k, v in cost_per_hour.items()}

    return Sizing(
        mode=stack.mode,
        region=stack.region,
        architecture=arch,
        cpu=size.cpu,
        memory=size.memory,
        slots_per_task=slots,
        concurrency=concurrency,
        tasks_min=tasks_min,
        tasks_desired=desired,
        tasks_max=tasks_max,
        min_pollers_per_task=min_pollers,
        max_pollers_per_task=max_pollers,
        heartbeat_seconds=min(a.heartbeat_seconds for a in stack.activities),
        activities=tuple(loads),
        api_refill_per_second=refill,
        polls_per_second=polls,
        results_per_second=results,
        heartbeats_per_second=heartbeats,
        heartbeat_ceiling=min(a.heartbeat_ceiling for a in loads),
        inflight_mean=sum(a.inflight_mean for a in loads),
        api_rate_per_task=_floor(100 * refill / tasks_max) / 100,
        cost_per_hour=cost_per_hour,
        cost_per_million_tasks=per_million,
        run_seconds=run_seconds,
        cost_per_run=cost_per_run,
        findings=tuple(findings),
    )


def _api_findings(
    stack: Stack,
    loads: list[ActivityLoad],
    max_pollers: int,
    tasks_max: int,
    refill: int,
    polls: float,
    results: float,
) -> list[Finding]:
    out: list[Finding] = []
    limit = fargate.MAX_POLLERS_PER_ACTIVITY
    for load in loads:
        if load.fleet_pollers_max > limit:
            fix_pollers = _floor(limit / tasks_max)
            fix = (
                f"set sizing.max_pollers_per_task ≤ {fix_pollers} or sizing.max_tasks ≤ "
                f"{_floor(limit / max_pollers)}"
                if fix_pollers >= 1
                else "pin a larger sizing.task_cpu / task_memory so fewer than 1,000 tasks "
                "are needed"
            )
            out.append(
                Finding(
                    "warning",
                    "pollers per activity",
                    f"{load.name}: {tasks_max} tasks * {max_pollers} pollers = "
                    f"{load.fleet_pollers_max} concurrent GetActivityTask calls at max scale "
                    f"exceed AWS's limit of {limit:,} per activity ARN "
                    f"(ActivityWorkerLimitExceeded): {fix}",
                )
            )
        elif load.fleet_pollers_desired < fargate.RECOMMENDED_POLLERS_PER_ACTIVITY:
            out.append(
                Finding(
                    "note",
                    "open polls",
                    f"{load.name}: {load.fleet_pollers_desired} open polls at the desired "
                    "size, below the 100 AWS recommends for production; fine at low rates, "
                    "or raise sizing.max_pollers_per_task",
                )
            )
    if polls > refill:
        out.append(
            Finding(
                "warning",
                "GetActivityTask rate",
                f"poll rate {polls:,.0f}/s exceeds the GetActivityTask refill of {refill}/s "
                f"in {stack.region}: request a quota increase, or lower "
                "sizing.max_pollers_per_task (each idle poll adds 1/60 per second)",
            )
        )
    if results > refill:
        out.append(
            Finding(
                "warning",
                "SendTaskSuccess rate",
                f"result rate {results:,.0f}/s exceeds the SendTaskSuccess refill of "
                f"{refill}/s in {stack.region}: request a quota increase, or batch work "
                "into fewer, larger tasks",
            )
        )
    return out


def _heartbeat_findings(
    stack: Stack, loads: list[ActivityLoad], heartbeats: float, refill: int
) -> list[Finding]:
    """The in-flight demand against the region's heartbeat ceiling, as the worker beats."""
    inflight = sum(a.inflight_mean for a in loads)
    # The activities share the account's bucket: each uses the share of it its beats need.
    used = heartbeats / refill if refill else math.inf
    if used <= 1:
        if used > 0.9:
            return [
                Finding(
                    "note",
                    "heartbeat ceiling",
                    f"{inflight:,.0f} tasks in flight use {used:.0%} of the SendTaskHeartbeat "
                    f"refill of {refill}/s in {stack.region}; a busier hour or slower tasks "
                    "will throttle heartbeats: consider a longer heartbeat_seconds",
                )
            ]
        return []
    needed = _quota.heartbeat_seconds_for(inflight, stack.region)
    shortest = min(a.heartbeat_seconds for a in loads)
    ceiling = _quota.ceiling(stack.region, shortest)
    return [
        Finding(
            "warning",
            "SendTaskHeartbeat rate",
            f"heartbeat rate {heartbeats:,.0f}/s exceeds the SendTaskHeartbeat refill of "
            f"{refill}/s in {stack.region}: {inflight:,.0f} tasks in flight against a ceiling "
            f"of {ceiling:,} at HeartbeatSeconds {shortest}; tasks will time out. Raise "
            f"heartbeat_seconds to ≥ {needed} (activities[].heartbeat_seconds), request a "
            "SendTaskHeartbeat quota increase, or split the work across another region or "
            "account",
        )
    ]


def _duration_findings(stack: Stack, desired: int) -> list[Finding]:
    s = stack.sizing
    out: list[Finding] = []
    for index, activity in enumerate(stack.activities):
        if activity.timeout_seconds < s.duration_p95_seconds:
            out.append(
                Finding(
                    "warning",
                    "task timeout",
                    f"{activity.name}: timeout_seconds ({activity.timeout_seconds}) is below "
                    f"the p95 handler duration ({s.duration_p95_seconds:g} s), so slow tasks "
                    f"fail with States.Timeout: raise activities[{index}].timeout_seconds to "
                    f"≥ {_ceil(2 * s.duration_p95_seconds)}",
                )
            )
    if s.spot_share > 0 and s.duration_p95_seconds > DRAIN_SECONDS:
        out.append(
            Finding(
                "warning",
                "drain budget",
                f"p95 handler duration ({s.duration_p95_seconds:g} s) exceeds the "
                f"{DRAIN_SECONDS} s drain budget: tasks running at a Fargate Spot interruption "
                "are failed back with Fleet.Interrupted and retried from the start; set "
                "sizing.spot_share = 0 or make handlers resumable",
            )
        )
    if stack.mode == "batch" and desired > fargate.MAX_RUN_TASK_COUNT:
        out.append(
            Finding(
                "error",
                "tasks per run",
                f"{desired} tasks per run exceed the {fargate.MAX_RUN_TASK_COUNT} tasks one "
                "schedule target can start (RunTask count): pin a larger "
                "sizing.task_cpu / task_memory, raise sizing.deadline_seconds, or lower "
                "sizing.vcpu_per_inflight if the handlers need less",
            )
        )
    if desired > fargate.MAX_TASKS_PER_SERVICE:
        out.append(
            Finding(
                "warning",
                "tasks per service",
                f"{desired} tasks exceed the ECS quota of {fargate.MAX_TASKS_PER_SERVICE:,} "
                "tasks per service: pin a larger task size or request a quota increase",
            )
        )
    return out
