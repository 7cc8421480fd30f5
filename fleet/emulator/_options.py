"""Runtime options of the local endpoint.

Defaults behave as AWS does wherever a worker could notice (throttling, lost polls, signed
requests); the options that make local runs kinder or faster must be asked for.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any, Literal

from fleet._limits import MAX_POLLERS_PER_ACTIVITY

Throttle = Literal["aws", "large", "other"]
FAULT_KINDS = ("500", "503", "drop")


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _non_negative(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _fault_kinds(value: Any) -> bool:
    return (
        isinstance(value, tuple | list)
        and len(value) > 0
        and all(kind in FAULT_KINDS for kind in value)
    )


_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "time_scale": (lambda v: _positive(v) and math.isfinite(v), "a positive number"),
    "long_poll_seconds": (_non_negative, "a number >= 0"),
    "throttle": (
        lambda v: v in (None, "aws", "large", "other"),
        'null, "aws", "large" or "other"',
    ),
    "mock_config": (lambda v: v is None or isinstance(v, str), "null or a file path"),
    "fault_rate": (lambda v: _non_negative(v) and v <= 1, "a number between 0 and 1"),
    "fault_kinds": (_fault_kinds, f"a non-empty list of {', '.join(FAULT_KINDS)}"),
    "latency_seconds": (_non_negative, "a number >= 0"),
    "lost_polls": (lambda v: isinstance(v, bool), "true or false"),
    "max_pollers_per_activity": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
        "an integer >= 1",
    ),
    "account_id": (lambda v: isinstance(v, str) and len(v) == 12 and v.isdigit(), "12 digits"),
    "seed": (lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)), "an int"),
}


@dataclasses.dataclass
class EmulatorOptions:
    """Behaviour switches of the endpoint; every assignment is validated (ValueError).

    The object is live: the running endpoint reads it on every call, so tests may switch faults
    or throttling on and off while clients are connected.
    """

    time_scale: float = 1.0
    """Speed-up of every service-side clock: TimeoutSeconds, HeartbeatSeconds, Wait, Retry."""
    long_poll_seconds: float = 60.0
    """How long GetActivityTask is held when no task is ready (real seconds, never scaled)."""
    throttle: Throttle | None = "aws"
    """Token buckets per API and region with AWS's quotas: "aws" picks the large-region or the
    other-region quotas by the caller's region, "large"/"other" force one, None turns it off."""
    fault_rate: float = 0.0
    """Fraction of API calls (admin calls excluded) that fail with an injected fault."""
    fault_kinds: tuple[str, ...] = ("500", "drop")
    """Faults picked at random: "500" InternalFailure, "503" unavailable, "drop" connection."""
    latency_seconds: float = 0.0
    """Latency added before every API answer."""
    lost_polls: bool = True
    """A long poll whose client went away still takes a task, as AWS does; False drops it."""
    max_pollers_per_activity: int = MAX_POLLERS_PER_ACTIVITY
    """Concurrent polls per activity beyond which ActivityWorkerLimitExceeded is answered."""
    account_id: str = "123456789012"
    """Account id in every ARN."""
    seed: int | None = None
    """Seed of the randomness (faults, retry jitter), for reproducible runs."""
    mock_config: str | None = None
    """Step Functions Local mock configuration file for Task resources other than activities."""

    def __setattr__(self, name: str, value: Any) -> None:
        check = _CHECKS.get(name)
        if check is None:
            raise AttributeError(f"unknown emulator option {name!r}")
        valid, expected = check
        if not valid(value):
            raise ValueError(f"emulator option {name} must be {expected}, got {value!r}")
        if name == "fault_kinds":
            value = tuple(value)
        super().__setattr__(name, value)

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply several changes at once; nothing changes if any one of them is invalid.

        Raises ValueError (or AttributeError for an unknown name) naming the bad option.
        """
        trial = dataclasses.replace(self)
        for name, value in changes.items():
            setattr(trial, name, value)
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(trial, field.name))

    def as_dict(self) -> dict[str, Any]:
        """The options as JSON-ready values."""
        values = dataclasses.asdict(self)
        values["fault_kinds"] = list(self.fault_kinds)
        return values
