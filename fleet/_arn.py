"""ARNs and names of Step Functions resources: one set of rules for worker, endpoint, deploy."""

from __future__ import annotations

import re
from typing import Final

#: Longest name of an activity, a state machine or an execution.
MAX_NAME_CHARS: Final = 80
#: What a name may not hold: whitespace, brackets, wildcards, punctuation that ARNs or URLs
#: use, and control characters (the naming rules of the Step Functions quotas page).
FORBIDDEN_IN_NAMES: Final = '?*<>{}[]"#%\\^|~`$&,;:/'
_FORBIDDEN = re.compile(r"[\s?*<>{}\[\]\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")
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

#: The partition part of an ARN, as a regular expression.
PARTITION_PATTERN: Final = "aws(?:-cn|-us-gov|-iso(?:-[a-z])?)?"
#: An activity ARN in any partition; the group ``name`` is the activity's name.
ACTIVITY_ARN: Final = re.compile(
    rf"arn:{PARTITION_PATTERN}:states:[a-z0-9-]+:\d{{12}}:activity:(?P<name>[^:\s]{{1,80}})"
)


def valid_name(name: str) -> bool:
    """Whether Step Functions accepts ``name`` for an activity, state machine or execution."""
    return 0 < len(name) <= MAX_NAME_CHARS and not _FORBIDDEN.search(name)


def partition(region: str) -> str:
    """The ARN partition that holds ``region``."""
    for prefix, name in _REGION_PREFIXES:
        if region.startswith(prefix):
            return name
    return "aws"


def build(region: str, account: str, kind: str, *names: str) -> str:
    """``arn:<partition>:states:<region>:<account>:<kind>:<name>[:<name>...]``."""
    return ":".join(("arn", partition(region), "states", region, account, kind, *names))
