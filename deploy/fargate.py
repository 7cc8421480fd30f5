"""Fargate task sizes, prices and the Step Functions / ECS quotas that sizing checks against."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Step Functions quotas (per account and Region) live with the runtime's limits.
from fleet._limits import MAX_POLLERS_PER_ACTIVITY as MAX_POLLERS_PER_ACTIVITY
from fleet._limits import api_quota_in

Architecture = Literal["x86_64", "arm64"]

# Valid Fargate (cpu units, memory MiB) pairs, from the ECS RegisterTaskDefinition `memory`
# documentation (botocore ecs/2014-11-13 model) and the ECS "task CPU and memory" page.
# 8 and 16 vCPU need Linux platform version 1.4.0 or later (LATEST is).
_MEMORY_BY_CPU: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}


@dataclass(frozen=True)
class TaskSize:
    """One valid Fargate task size: ``cpu`` in ECS units (1024 = 1 vCPU), ``memory`` in MiB."""

    cpu: int
    memory: int

    @property
    def vcpu(self) -> float:
        """The size in vCPUs."""
        return self.cpu / 1024

    @property
    def memory_gb(self) -> float:
        """The memory in GB as Fargate bills it (1 GB = 1024 MiB)."""
        return self.memory / 1024

    def __str__(self) -> str:
        return f"{self.vcpu:g} vCPU / {self.memory_gb:g} GB"


def valid_sizes() -> list[TaskSize]:
    """Every valid Fargate size, smallest CPU first, then smallest memory."""
    return [TaskSize(cpu, mem) for cpu, mems in _MEMORY_BY_CPU.items() for mem in mems]


def is_valid(cpu: int, memory: int) -> bool:
    """True if ``cpu`` units with ``memory`` MiB is a size Fargate accepts."""
    return memory in _MEMORY_BY_CPU.get(cpu, ())


def valid_memory_for(cpu: int) -> tuple[int, ...]:
    """The memory values (MiB) Fargate accepts with ``cpu`` units; empty for an invalid cpu."""
    return _MEMORY_BY_CPU.get(cpu, ())


# On-demand Linux prices in us-east-1, USD, transcribed from
# vantage.sh/blog/fargate-pricing and wring.co (March 2026); the AWS pricing page renders
# its numbers with JavaScript. Other regions differ by a few percent; treat costs as estimates.
PRICE_PER_VCPU_HOUR: dict[Architecture, float] = {"x86_64": 0.04048, "arm64": 0.03238}
PRICE_PER_GB_HOUR: dict[Architecture, float] = {"x86_64": 0.004445, "arm64": 0.00356}
# Fargate Spot: "up to a 70% discount off the regular Fargate price" (AWS Fargate pricing page).
DEFAULT_SPOT_DISCOUNT = 0.70


def hourly_price(size: TaskSize, arch: Architecture) -> float:
    """On-demand USD per hour for one task of ``size`` on ``arch``."""
    return size.vcpu * PRICE_PER_VCPU_HOUR[arch] + size.memory_gb * PRICE_PER_GB_HOUR[arch]


def blended_hourly_price(
    size: TaskSize, arch: Architecture, spot_share: float, spot_discount: float
) -> float:
    """USD per hour for one task when ``spot_share`` of tasks run on Fargate Spot.

    >>> round(blended_hourly_price(TaskSize(1024, 2048), "x86_64", 0.5, 0.7), 6)
    0.032091
    """
    on_demand = hourly_price(size, arch)
    return on_demand * (1 - spot_share) + on_demand * (1 - spot_discount) * spot_share


def fleet_hourly_price(
    size: TaskSize, arch: Architecture, tasks: int, spot_share: float, spot_discount: float
) -> float:
    """USD per hour for ``tasks`` tasks placed as the service's capacity provider strategy does.

    A mixed strategy keeps one on-demand task as its base (see ``capacity_strategy``); the
    share applies to the others. All on Spot (share 1) has no base.

    >>> round(fleet_hourly_price(TaskSize(1024, 2048), "x86_64", 1, 0.5, 0.7), 6)
    0.04937
    """
    on_demand = hourly_price(size, arch)
    base = 1 if 0 < spot_share < 1 and tasks > 0 else 0
    rest = tasks - base
    return on_demand * (base + rest * (1 - spot_share * spot_discount))


# Other lines of the bill, us-east-1 list prices (AWS pricing pages for Step Functions, NAT
# gateways and PrivateLink, as of 2026): Standard workflow state transitions; a NAT gateway
# per hour and per GB processed; an interface VPC endpoint per AZ-hour and per GB.
PRICE_PER_STATE_TRANSITION = 0.000025
PRICE_NAT_GATEWAY_HOUR = 0.045
PRICE_NAT_GATEWAY_GB = 0.045
PRICE_ENDPOINT_AZ_HOUR = 0.01
PRICE_ENDPOINT_GB = 0.01
# Interface endpoints private subnets need without NAT: Step Functions, ECR API and registry,
# CloudWatch Logs (ECR layers come through the S3 gateway endpoint, which is free).
ENDPOINT_SERVICES = ("states", "ecr.api", "ecr.dkr", "logs")


RECOMMENDED_POLLERS_PER_ACTIVITY = 100  # "at least 100 open polls per activity ARN"
MAX_TASKS_PER_SERVICE = 5000  # ECS tasks per service (adjustable)
MAX_RUN_TASK_COUNT = 10  # RunTask `count`, and the Scheduler / rule target TaskCount


def api_refill_per_second(region: str) -> int:
    """The refill rate of GetActivityTask and each SendTask* bucket in ``region``."""
    return int(api_quota_in("GetActivityTask", region)[1])
