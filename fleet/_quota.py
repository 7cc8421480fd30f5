"""The heartbeat schedule and the account's heartbeat ceiling: one formula, two readers.

The worker beats each task once per *interval*, as late in its HeartbeatSeconds window as is
safe; ``deploy size`` divides the account's SendTaskHeartbeat refill by the same interval to
state how many tasks a region can keep in flight. Both import this module, so the ceiling
that sizing promises is the one the worker can hold.

The service's heartbeat clock restarts when a beat *arrives*. A beat is sent ``margin``
seconds before the window closes, which leaves room for one attempt that runs to its
timeout, a pause after a throttled answer, and a second attempt; long windows keep a
twentieth of the window, so that an endpoint that stalls for several seconds costs retries,
not tasks:

    margin = max(2 * round_trip + retry_pause, W / 20)   (at most W / 2)
    round_trip = clamp(W / 20, 0.25 s, 2 s),  retry_pause = clamp(W / 40, 0.1 s, 1 s)
    interval = W - margin                          (60 s -> 55 s, 300 s -> 285 s)

An attempt itself may take ``ATTEMPT_TIMEOUT_SECONDS`` (2 s) before it is given up and
retried: from 40 s windows on the margin holds a whole timed-out attempt and its retry;
below, a slow answer is waited for rather than abandoned early.

The ``fixed`` schedule is the earlier one, kept selectable for comparison: a beat every
0.8 x W minus up to 10 % jitter (0.76 x W on average), so a fifth of the quota is spent on
beats that were not yet needed.
"""

from __future__ import annotations

import math
from typing import Final, Literal

from fleet._limits import api_refill_per_second

Schedule = Literal["late", "fixed"]

#: The fixed schedule's fraction of HeartbeatSeconds, and its jitter (beats at 0.9-1.0 of it).
FIXED_FRACTION: Final = 0.8
FIXED_JITTER: Final = 0.1
#: Bounds of the round trip the margin allows for, and of the pause before a retry.
ROUND_TRIP_BOUNDS: Final = (0.25, 2.0)
#: How long one SendTaskHeartbeat attempt may take before it is given up and retried.
ATTEMPT_TIMEOUT_SECONDS: Final = 2.0
RETRY_PAUSE_BOUNDS: Final = (0.1, 1.0)


def _clamp(value: float, bounds: tuple[float, float]) -> float:
    return min(max(value, bounds[0]), bounds[1])


def round_trip(heartbeat_seconds: float) -> float:
    """The round trip of one SendTaskHeartbeat that the margin allows for."""
    return _clamp(heartbeat_seconds / 20, ROUND_TRIP_BOUNDS)


def retry_pause(heartbeat_seconds: float) -> float:
    """The pause before a throttled or failed beat is tried again."""
    return _clamp(heartbeat_seconds / 40, RETRY_PAUSE_BOUNDS)


def margin(heartbeat_seconds: float) -> float:
    """Seconds before the window closes at which a beat is sent: room for a retry and the trip.

    Never more than half the window, so that very short windows still beat at most twice.
    """
    room = 2 * round_trip(heartbeat_seconds) + retry_pause(heartbeat_seconds)
    return min(max(room, heartbeat_seconds / 20), heartbeat_seconds / 2)


def interval(heartbeat_seconds: float, schedule: Schedule = "late") -> float:
    """Mean seconds between one task's beats under ``schedule``."""
    if schedule == "fixed":
        return heartbeat_seconds * FIXED_FRACTION * (1 - FIXED_JITTER / 2)
    return heartbeat_seconds - margin(heartbeat_seconds)


def beats_per_second(
    in_flight: float, heartbeat_seconds: float, schedule: Schedule = "late"
) -> float:
    """SendTaskHeartbeat calls per second that ``in_flight`` tasks need under ``schedule``."""
    return in_flight / interval(heartbeat_seconds, schedule)


def ceiling(region: str | None, heartbeat_seconds: float, schedule: Schedule = "late") -> int:
    """Most tasks an account can keep in flight in ``region`` before its heartbeats throttle.

    The account's SendTaskHeartbeat refill times the interval: 500/s x 55 s = 27,500 tasks
    at HeartbeatSeconds 60 in a large region with the late schedule (22,800 with the fixed).
    """
    return math.floor(api_refill_per_second(region) * interval(heartbeat_seconds, schedule) + 1e-9)


def heartbeat_seconds_for(in_flight: float, region: str | None) -> int:
    """The shortest whole HeartbeatSeconds at which ``in_flight`` tasks fit under the ceiling."""
    seconds = max(1, math.ceil(in_flight / api_refill_per_second(region)))
    while ceiling(region, seconds) < in_flight:
        seconds += 1
    return seconds
