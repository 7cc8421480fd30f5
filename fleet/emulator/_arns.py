"""ARNs and names: building them for a region and account, and rejecting malformed ones."""

from __future__ import annotations

import re

from fleet._arn import PARTITIONS, valid_name
from fleet._arn import build as build
from fleet.emulator._errors import ApiError, invalid_arn

DEFAULT_REGION = "us-east-1"

_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
_ACCOUNT = re.compile(r"\d{12}")


def region_of(authorization: str | None) -> str:
    """The region of a SigV4 `Authorization` header's credential scope; us-east-1 if absent."""
    if authorization:
        start = authorization.find("Credential=")
        if start >= 0:
            scope = authorization[start + 11 :].split(",", 1)[0].split("/")
            if len(scope) >= 3 and scope[2]:
                return scope[2]
    return DEFAULT_REGION


def check_name(name: str) -> None:
    """Raise InvalidName ("Invalid Name: '<name>'") for a name AWS would refuse."""
    if not valid_name(name):
        raise ApiError("InvalidName", f"Invalid Name: '{name}'")


def check(arn: str, kind: str, parts: int = 1) -> list[str]:
    """Parse an ARN of resource type `kind`; return its trailing name parts.

    Raises InvalidArn with AWS's wording for a wrong prefix, a wrong resource type or a wrong
    number of parts.
    """
    fields = arn.split(":")
    if len(fields) < 6 or fields[0] != "arn" or fields[2] != "states":
        raise invalid_arn(f"Invalid ARN prefix: {arn}")
    if fields[1] not in PARTITIONS or not _REGION.fullmatch(fields[3]):
        raise invalid_arn(f"Invalid ARN prefix: {arn}")
    if not _ACCOUNT.fullmatch(fields[4]):
        raise invalid_arn(f"Invalid account id: {fields[4]}")
    if fields[5] != kind:
        raise invalid_arn(f"Resource type not valid in this context: {fields[5]}")
    names = fields[6:]
    if len(names) != parts or not all(names):
        raise invalid_arn(f"Invalid Arn: {arn}")
    return names


def check_role(arn: str) -> None:
    """Raise InvalidArn unless `arn` is an IAM role ARN with a 12-digit account."""
    fields = arn.split(":", 5)
    if (
        len(fields) != 6
        or fields[0] != "arn"
        or fields[1] not in PARTITIONS
        or fields[2] != "iam"
        or not fields[5].startswith("role/")
        or len(fields[5]) <= 5
    ):
        raise invalid_arn(f"Invalid ARN prefix: {arn}")
    if not _ACCOUNT.fullmatch(fields[4]):
        raise invalid_arn(f"Invalid account id: {fields[4]}")
