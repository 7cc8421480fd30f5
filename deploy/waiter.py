"""Waiting for the ECS service to be stable, with a timeout and progress callbacks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from deploy.aws import Aws
from deploy.errors import RolloutFailed, WaitTimeout


@dataclass(frozen=True)
class ServiceStatus:
    """One observation of the service while waiting."""

    running: int
    pending: int
    desired: int
    deployments: int
    rollout: str | None
    elapsed: float
    event: str | None

    @property
    def stable(self) -> bool:
        """One deployment, finished: COMPLETED, or (if not reported) running == desired."""
        if self.deployments != 1:
            return False
        if self.rollout is not None:
            return self.rollout == "COMPLETED"
        return self.running == self.desired

    def describe(self) -> str:
        """A one-line summary for progress output and errors."""
        rollout = f", rollout {self.rollout}" if self.rollout else ""
        return (
            f"{self.running}/{self.desired} running, {self.pending} pending, "
            f"{self.deployments} deployment(s){rollout}"
        )


def _status(service: dict[str, Any], elapsed: float) -> ServiceStatus:
    deployments = service.get("deployments", [])
    primary: dict[str, Any] = next((d for d in deployments if d.get("status") == "PRIMARY"), {})
    events = service.get("events", [])
    return ServiceStatus(
        running=int(service.get("runningCount", 0)),
        pending=int(service.get("pendingCount", 0)),
        desired=int(service.get("desiredCount", 0)),
        deployments=len(deployments),
        rollout=primary.get("rolloutState"),
        elapsed=elapsed,
        event=events[0].get("message") if events else None,
    )


async def wait_stable(
    aws: Aws,
    cluster: str,
    service: str,
    timeout: float,
    interval: float,
    progress: Callable[[ServiceStatus], None] = lambda status: None,
) -> ServiceStatus:
    """Poll until the service is stable; returns the last status.

    Raises RolloutFailed when the circuit breaker fails the rollout, WaitTimeout after
    ``timeout`` seconds.
    """
    ecs = await aws.client("ecs")
    start = time.monotonic()
    while True:
        found = await ecs.describe_services(cluster=cluster, services=[service])
        services = [s for s in found.get("services", []) if s.get("status") == "ACTIVE"]
        if not services:
            raise WaitTimeout(f"ECS service '{service}' is not ACTIVE in cluster '{cluster}'")
        status = _status(services[0], time.monotonic() - start)
        progress(status)
        if status.rollout == "FAILED":
            reason = next(
                (
                    d.get("rolloutStateReason", "")
                    for d in services[0].get("deployments", [])
                    if d.get("status") == "PRIMARY"
                ),
                "",
            )
            raise RolloutFailed(
                f"ECS service '{service}': the deployment circuit breaker failed the rollout "
                f"({reason or status.event or 'no reason given'}); ECS rolls back to the "
                "previous task definition. Check the worker logs, fix, and apply again."
            )
        if status.stable:
            return status
        if status.elapsed >= timeout:
            latest = f"; latest event: {status.event}" if status.event else ""
            raise WaitTimeout(
                f"ECS service '{service}' was not stable after {timeout:g} s: "
                f"{status.describe()}{latest}. Everything else is applied; re-run apply "
                "to wait again, or pass --no-wait."
            )
        await asyncio.sleep(min(interval, max(0.0, timeout - status.elapsed)))
