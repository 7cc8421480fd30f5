"""ARN partitions: the one fact about ARNs the worker and the local endpoint share."""

from __future__ import annotations


def partition(region: str) -> str:
    """The ARN partition that holds ``region``."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"
