"""Token-bucket throttling with the API quotas of the Step Functions service-quotas page."""

from __future__ import annotations

from fleet._bucket import TokenBucket
from fleet._limits import LARGE_REGIONS, api_quota


def quota(operation: str, mode: str) -> tuple[int, float]:
    """(bucket size, refill per second) of `operation` in a "large" or "other" region."""
    return api_quota(operation, mode == "large")


def mode_for(throttle: str, region: str) -> str:
    """The quota set that applies: `throttle` itself, or by region for "aws"."""
    if throttle != "aws":
        return throttle
    return "large" if region in LARGE_REGIONS else "other"


class Throttle:
    """One bucket per (mode, region, API), as AWS keeps them per account and region."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}

    def allow(self, mode: str, region: str, operation: str) -> bool:
        """Take one token; False when the bucket is empty (answer ThrottlingException).

        `mode` is the `throttle` option: "aws" (by region), "large" or "other".
        """
        mode = mode_for(mode, region)
        key = (mode, region, operation)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(*quota(operation, mode))
        return bucket.try_take()
