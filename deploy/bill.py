"""The rest of the bill and the quotas beyond the workers' own API calls.

`size` adds these to the fleet sizing (deploy/sizing.py). With E executions per second (each
runs every activity once, so E = λ), T state transitions per execution, v vCPU per task:

1. StartExecution: E calls/s against the bucket and refill of fleet/_limits.py. Batch mode
   starts a run's tasks_per_run executions in one burst, which must fit in the bucket.
2. State transitions: E*T per second against the StateTransition bucket; T counts the
   states of the definition (each state entered is one transition; retries add more).
3. Fargate vCPU: desired*v steady, max*v at full scale, and 2*max*v during a deployment at
   full scale (maximumPercent 200 starts the new tasks before the old ones stop), against
   the account's quota (``sizing.fargate_vcpu_quota``, else the new-account default).
4. A rate at or above 80 % of its refill is a warning before the bucket runs out; above
   100 % the bucket of B empties in B / (rate - refill) seconds, then calls are throttled.
5. Costs per hour besides Fargate: state transitions E*T*3600*price; egress through NAT
   (one gateway per subnet: hours + GB processed) or interface VPC endpoints (one per
   service and subnet: hours + GB), with GB/h = n*E*kib_per_task*3600 / 2²⁰.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from deploy import fargate
from deploy.asl import generate
from deploy.sizing import Finding, Sizing
from deploy.stack import Stack
from fleet._limits import FARGATE_VCPU_QUOTA, api_quota_in

# The share of a refill at which `size` warns that the bucket will not last.
WARN_SHARE = 0.8


@dataclass(frozen=True)
class Quota:
    """One rate or count and the quota it draws on."""

    name: str
    value: float
    limit: float
    formula: str


@dataclass(frozen=True)
class Cost:
    """One line of the hourly bill besides the Fargate tasks."""

    name: str
    per_hour: float
    formula: str


@dataclass(frozen=True)
class Bill:
    """The quotas and cost lines `size` prints after the fleet sizing."""

    executions_per_second: float
    transitions_per_execution: int
    quotas: tuple[Quota, ...]
    costs: tuple[Cost, ...]
    total_per_hour: float
    findings: tuple[Finding, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every field."""
        return asdict(self)


def transitions_per_execution(stack: Stack) -> int:
    """States entered by one execution without retries: every state of the definition."""
    if stack.state_machine.definition_file is None:
        definition = generate(stack, "000000000000")
    else:
        try:
            path = stack.base_dir / stack.state_machine.definition_file
            definition = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return len(stack.activities)
    return max(1, _count_states(definition))


def _count_states(node: Any) -> int:
    if isinstance(node, dict):
        own = len(node["States"]) if isinstance(node.get("States"), dict) else 0
        return own + sum(_count_states(v) for v in node.values())
    if isinstance(node, list):
        return sum(_count_states(v) for v in node)
    return 0


def _rate_findings(name: str, rate: float, bucket: int, refill: float, fix: str) -> list[Finding]:
    if rate > refill:
        empty = bucket / (rate - refill)
        return [
            Finding(
                "warning",
                f"{name} rate",
                f"{name} {rate:,.1f}/s exceeds the refill of {refill:g}/s: the bucket of "
                f"{bucket:,} empties in {empty:,.0f} s, then calls are throttled: {fix}",
            )
        ]
    if rate >= WARN_SHARE * refill:
        return [
            Finding(
                "warning",
                f"{name} rate",
                f"{name} {rate:,.1f}/s is {rate / refill:.0%} of the refill of {refill:g}/s: "
                f"a burst above it drains the bucket of {bucket:,}: {fix}",
            )
        ]
    return []


def whole_bill(stack: Stack, sizing: Sizing) -> Bill:
    """Quotas and cost lines for ``stack`` sized as ``sizing``."""
    s = stack.sizing
    region = stack.region
    n = len(stack.activities)
    executions = sizing.activities[0].arrival_rate_per_second if sizing.activities else 0.0
    per_execution = transitions_per_execution(stack)
    transitions = executions * per_execution
    findings: list[Finding] = []

    start_bucket, start_refill = api_quota_in("StartExecution", region)
    state_bucket, state_refill = api_quota_in("StateTransition", region)
    quota_fix = "request a quota increase (Service Quotas) or spread the executions"
    findings += _rate_findings("StartExecution", executions, start_bucket, start_refill, quota_fix)
    findings += _rate_findings(
        "StateTransition", transitions, state_bucket, state_refill, quota_fix
    )
    results_bucket, results_refill = api_quota_in("SendTaskSuccess", region)
    for name, rate in (
        ("GetActivityTask", sizing.polls_per_second),
        ("SendTaskSuccess", sizing.results_per_second),
    ):
        # Above the refill deploy/sizing.py already warns; this is the band before it.
        if WARN_SHARE * results_refill <= rate <= results_refill:
            findings += _rate_findings(name, rate, results_bucket, results_refill, quota_fix)
    if stack.mode == "batch" and (s.tasks_per_run or 0) > start_bucket:
        findings.append(
            Finding(
                "warning",
                "StartExecution burst",
                f"{s.tasks_per_run:,} executions per run exceed the StartExecution bucket of "
                f"{start_bucket:,}: start them over at least "
                f"{(s.tasks_per_run or 0) / start_refill:,.0f} s or request a quota increase",
            )
        )

    vcpu = sizing.cpu / 1024
    quota = s.fargate_vcpu_quota or FARGATE_VCPU_QUOTA
    deploying = 2 * sizing.tasks_max * vcpu if stack.mode == "service" else sizing.tasks_max * vcpu
    quotas = (
        Quota(
            "StartExecution calls/s",
            executions,
            start_refill,
            f"E = λ = {executions:g} (bucket {start_bucket:,})",
        ),
        Quota(
            "state transitions/s",
            transitions,
            state_refill,
            f"E * T = {executions:g} * {per_execution} (bucket {state_bucket:,})",
        ),
        Quota(
            "Fargate vCPU, desired",
            sizing.tasks_desired * vcpu,
            quota,
            f"{sizing.tasks_desired} tasks * {vcpu:g} vCPU",
        ),
        Quota(
            "Fargate vCPU, max scale during a deployment",
            deploying,
            quota,
            f"2 * {sizing.tasks_max} max tasks * {vcpu:g} vCPU (maximumPercent 200)"
            if stack.mode == "service"
            else f"{sizing.tasks_max} tasks * {vcpu:g} vCPU",
        ),
    )
    if deploying > quota:
        source = "sizing.fargate_vcpu_quota" if s.fargate_vcpu_quota else "a new account's default"
        findings.append(
            Finding(
                "warning",
                "Fargate vCPU quota",
                f"{deploying:g} vCPU at max scale during a deployment exceed the Fargate vCPU "
                f"quota of {quota} ({source}): new tasks would fail to start; request an "
                "increase (Service Quotas L-3032A538 on demand, L-36FBB829 Spot) and set "
                "sizing.fargate_vcpu_quota, or lower sizing.max_tasks",
            )
        )
    elif sizing.tasks_desired * vcpu >= WARN_SHARE * quota:
        findings.append(
            Finding(
                "warning",
                "Fargate vCPU quota",
                f"{sizing.tasks_desired * vcpu:g} desired vCPU are "
                f"{sizing.tasks_desired * vcpu / quota:.0%} of the Fargate vCPU quota of "
                f"{quota}: scaling out will hit it",
            )
        )

    costs = [
        Cost(
            "Step Functions state transitions",
            transitions * 3600 * fargate.PRICE_PER_STATE_TRANSITION,
            f"{transitions:g}/s * 3600 * ${fargate.PRICE_PER_STATE_TRANSITION:.6f}",
        )
    ]
    gb_per_hour = n * executions * s.kib_per_task * 3600 / 2**20
    zones = len(stack.network.subnets)
    if s.egress == "nat":
        costs.append(
            Cost(
                "NAT gateways",
                zones * fargate.PRICE_NAT_GATEWAY_HOUR + gb_per_hour * fargate.PRICE_NAT_GATEWAY_GB,
                f"{zones} * ${fargate.PRICE_NAT_GATEWAY_HOUR}/h + {gb_per_hour:.3g} GB/h * "
                f"${fargate.PRICE_NAT_GATEWAY_GB}/GB",
            )
        )
    elif s.egress == "endpoints":
        count = len(fargate.ENDPOINT_SERVICES)
        costs.append(
            Cost(
                "VPC interface endpoints",
                count * zones * fargate.PRICE_ENDPOINT_AZ_HOUR
                + gb_per_hour * fargate.PRICE_ENDPOINT_GB,
                f"{count} endpoints ({', '.join(fargate.ENDPOINT_SERVICES)}) * {zones} subnets "
                f"* ${fargate.PRICE_ENDPOINT_AZ_HOUR}/h + {gb_per_hour:.3g} GB/h * "
                f"${fargate.PRICE_ENDPOINT_GB}/GB",
            )
        )
    fargate_cost = sizing.cost_per_hour["blended"]
    total = fargate_cost + sum(c.per_hour for c in costs)
    return Bill(
        executions_per_second=executions,
        transitions_per_execution=per_execution,
        quotas=quotas,
        costs=tuple(costs),
        total_per_hour=total,
        findings=tuple(findings),
    )


def render(bill: Bill, sizing: Sizing, console: Console) -> None:
    """Print the quota and cost tables and the bill's findings."""
    quotas = Table(title="Quotas")
    for column in ("what", "value", "quota", "share", "formula"):
        quotas.add_column(column, justify="left" if column in ("what", "formula") else "right")
    for q in bill.quotas:
        share = q.value / q.limit if q.limit else 0.0
        quotas.add_row(q.name, f"{q.value:,.2f}", f"{q.limit:,g}", f"{share:.0%}", q.formula)
    console.print(quotas)
    costs = Table(title="Bill per hour, USD (us-east-1 list prices)")
    for column in ("line", "per hour", "formula"):
        costs.add_column(column, justify="right" if column == "per hour" else "left")
    costs.add_row(
        "Fargate tasks (with the Spot share)", f"{sizing.cost_per_hour['blended']:,.4f}", ""
    )
    for c in bill.costs:
        costs.add_row(c.name, f"{c.per_hour:,.4f}", c.formula)
    costs.add_row("total", f"{bill.total_per_hour:,.4f}", "")
    console.print(costs)
    for finding in bill.findings:
        console.print(f"[yellow]{finding.severity}[/] ({finding.limit}): {escape(finding.message)}")
