"""ARN partitions: the one fact about ARNs the worker and the local endpoint share."""

from __future__ import annotations

#: Every partition a Step Functions ARN can name.
PARTITIONS = ("aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f")

# Region name prefixes of the partitions other than `aws`, most specific first.
_REGION_PREFIXES = (
    ("cn-", "aws-cn"),
    ("us-gov-", "aws-us-gov"),
    ("us-isob-", "aws-iso-b"),
    ("us-isof-", "aws-iso-f"),
    ("eu-isoe-", "aws-iso-e"),
    ("us-iso-", "aws-iso"),
)


def partition(region: str) -> str:
    """The ARN partition that holds ``region``."""
    for prefix, name in _REGION_PREFIXES:
        if region.startswith(prefix):
            return name
    return "aws"
