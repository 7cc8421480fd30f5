"""Token-bucket throttling with the API quotas of the Step Functions service-quotas page."""

from __future__ import annotations

import time

# (bucket size, refill per second) per API: large regions, then the other regions.
_QUOTAS: dict[str, tuple[tuple[int, float], tuple[int, float]]] = {
    "GetActivityTask": ((3000, 500), (1500, 300)),
    "SendTaskSuccess": ((3000, 500), (1500, 300)),
    "SendTaskFailure": ((3000, 500), (1500, 300)),
    "SendTaskHeartbeat": ((3000, 500), (1500, 300)),
    "StartExecution": ((1300, 300), (800, 150)),
    "StopExecution": ((1000, 200), (500, 25)),
    "DescribeExecution": ((300, 15), (250, 10)),
    "GetExecutionHistory": ((400, 20), (400, 20)),
    "ListExecutions": ((200, 5), (100, 2)),
    "CreateActivity": ((100, 1), (100, 1)),
    "DeleteActivity": ((100, 1), (100, 1)),
    "DescribeActivity": ((200, 1), (200, 1)),
    "ListActivities": ((100, 10), (100, 5)),
    "CreateStateMachine": ((100, 1), (100, 1)),
    "RedriveExecution": ((1300, 300), (800, 150)),
}
# APIs the quota page does not list share this bucket shape per API.
_DEFAULT = ((100, 1), (100, 1))
# The regions the quotas page calls large: N. Virginia, Oregon and Ireland.
LARGE_REGIONS = frozenset({"us-east-1", "us-west-2", "eu-west-1"})


def quota(operation: str, mode: str) -> tuple[int, float]:
    """(bucket size, refill per second) of `operation` in a "large" or "other" region."""
    large, other = _QUOTAS.get(operation, _DEFAULT)
    return large if mode == "large" else other


def mode_for(throttle: str, region: str) -> str:
    """The quota set that applies: `throttle` itself, or by region for "aws"."""
    if throttle != "aws":
        return throttle
    return "large" if region in LARGE_REGIONS else "other"


class _Bucket:
    __slots__ = ("rate", "size", "stamp", "tokens")

    def __init__(self, size: int, rate: float) -> None:
        self.size, self.rate = size, rate
        self.tokens = float(size)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.size, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Throttle:
    """One bucket per (mode, region, API), as AWS keeps them per account and region."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str, str], _Bucket] = {}

    def allow(self, mode: str, region: str, operation: str) -> bool:
        """Take one token; False when the bucket is empty (answer ThrottlingException).

        `mode` is the `throttle` option: "aws" (by region), "large" or "other".
        """
        mode = mode_for(mode, region)
        key = (mode, region, operation)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(*quota(operation, mode))
        return bucket.take()
