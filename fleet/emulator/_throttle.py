"""Token-bucket throttling with the API quotas of the Step Functions service-quotas page."""

from __future__ import annotations

from fleet._bucket import TokenBucket
from fleet._limits import api_quota


def quota(operation: str, mode: str) -> tuple[int, float]:
    """(bucket size, refill per second) of `operation` in a "large" or "other" region."""
    return api_quota(operation, mode == "large")


class Throttle:
    """One bucket per (mode, region, API), as AWS keeps them per account and region."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}

    def allow(self, mode: str, region: str, operation: str) -> bool:
        """Take one token; False when the bucket is empty (answer ThrottlingException)."""
        key = (mode, region, operation)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(*quota(operation, mode))
        return bucket.try_take()
