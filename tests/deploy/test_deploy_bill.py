"""`size`: StartExecution, state transitions, Fargate vCPU, and the bill besides Fargate."""

from __future__ import annotations

import json

import pytest
from deploy_support import EXAMPLE

from deploy.__main__ import main
from deploy.bill import Bill, whole_bill
from deploy.sizing import size_stack
from deploy.stack import load_stack


def _bill(*overrides: str) -> Bill:
    stack = load_stack(EXAMPLE, list(overrides))
    return whole_bill(stack, size_stack(stack))


def _quota(bill: Bill, name: str) -> tuple[float, float]:
    found = next(q for q in bill.quotas if q.name == name)
    return found.value, found.limit


def _warnings(bill: Bill, limit: str) -> list[str]:
    return [f.message for f in bill.findings if f.limit == limit]


def test_the_example_stack_bill_line_by_line() -> None:
    bill = _bill()
    # 2 executions/s (one per HelloWorldActivity task), one Task state each.
    assert (bill.executions_per_second, bill.transitions_per_execution) == (2.0, 1)
    assert _quota(bill, "StartExecution calls/s") == (2.0, 300)
    assert _quota(bill, "state transitions/s") == (2.0, 5000)
    # 0.25 vCPU tasks, 1 desired, 2 max: 2 * 2 * 0.25 during a deployment at max scale.
    assert _quota(bill, "Fargate vCPU, desired") == (0.25, 6)
    assert _quota(bill, "Fargate vCPU, max scale during a deployment") == (1.0, 6)
    costs = {c.name: c.per_hour for c in bill.costs}
    # 2/s * 3600 * $0.000025 = $0.18 per hour.
    assert costs["Step Functions state transitions"] == pytest.approx(0.18)
    # Two subnets, one NAT gateway each, and 2 tasks/s * 8 KiB * 3600 s = 0.0549 GB/h.
    gb = 2 * 8 * 3600 / 2**20
    assert costs["NAT gateways"] == pytest.approx(2 * 0.045 + gb * 0.045)
    assert bill.total_per_hour == pytest.approx(0.009875 + 0.18 + 2 * 0.045 + gb * 0.045)
    assert bill.findings == ()


def test_vpc_endpoints_instead_of_nat() -> None:
    costs = {c.name: c.per_hour for c in _bill('sizing.egress="endpoints"').costs}
    gb = 2 * 8 * 3600 / 2**20
    # states, ecr.api, ecr.dkr, logs in each of the 2 subnets' zones.
    assert costs["VPC interface endpoints"] == pytest.approx(4 * 2 * 0.01 + gb * 0.01)
    assert "NAT gateways" not in costs


def test_a_bucket_is_flagged_before_it_runs_out() -> None:
    # 250/s is 83 % of the StartExecution refill of 300/s in us-east-1: warned, not yet over.
    (near,) = _warnings(_bill("sizing.arrival_rate_per_second=250"), "StartExecution rate")
    assert "is 83% of the refill of 300/s" in near
    # 400/s: 100/s more than the refill drains the 1,300 bucket in 13 s.
    (over,) = _warnings(_bill("sizing.arrival_rate_per_second=400"), "StartExecution rate")
    assert "the bucket of 1,300 empties in 13 s" in over
    assert _warnings(_bill("sizing.arrival_rate_per_second=200"), "StartExecution rate") == []


def test_state_transitions_count_every_state() -> None:
    three = ", ".join(
        f'{{name="Step{i}", heartbeat_seconds=60, timeout_seconds=600}}' for i in range(3)
    )
    bill = _bill(
        f"activities=[{three}]", "sizing.arrival_rate_per_second=1000", 'region="eu-central-1"'
    )
    assert bill.transitions_per_execution == 3
    # 3,000 transitions/s against 800/s outside the large Regions.
    (over,) = _warnings(bill, "StateTransition rate")
    assert "StateTransition 3,000.0/s exceeds the refill of 800/s" in over


def test_fargate_vcpu_quota_counts_the_deployment_surge() -> None:
    bill = _bill("sizing.min_tasks=10")
    # 10 desired, 20 max tasks of 0.25 vCPU: 2 * 20 * 0.25 = 10 vCPU while deploying.
    assert _quota(bill, "Fargate vCPU, max scale during a deployment") == (10.0, 6)
    (warning,) = _warnings(bill, "Fargate vCPU quota")
    assert "10 vCPU at max scale during a deployment exceed the Fargate vCPU quota of 6" in (
        warning
    )
    raised = _bill("sizing.min_tasks=10", "sizing.fargate_vcpu_quota=100")
    assert _warnings(raised, "Fargate vCPU quota") == []


def test_size_prints_every_quota_and_cost_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["size", "--stack", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    for line in (
        "StartExecution calls/s",
        "state transitions/s",
        "Fargate vCPU, max scale during a deployment",
        "Step Functions state transitions",
        "NAT gateways",
        "2 * 2 max tasks * 0.25 vCPU (maximumPercent 200)",
    ):
        assert line in out
    assert main(["size", "--stack", str(EXAMPLE), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["bill"]["transitions_per_execution"] == 1
    assert found["bill"]["total_per_hour"] > found["cost_per_hour"]["blended"]
