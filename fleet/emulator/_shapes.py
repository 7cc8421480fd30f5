"""Request shapes of each operation and the checks AWS applies before the operation runs.

Type mismatches are deserialization failures (`SerializationException`); length, range, enum
and missing-member problems are all collected into one coral `ValidationException`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fleet._arn import MAX_NAME_CHARS
from fleet._limits import MAX_CAUSE_CHARS, MAX_ERROR_CHARS, MAX_OUTPUT_BYTES
from fleet.emulator._errors import serialization, validation

_STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")
_INCLUDED = ("ALL_DATA", "METADATA_ONLY")


@dataclass(frozen=True, slots=True)
class Member:
    """One request member: JSON type and model constraints."""

    kind: type
    required: bool = False
    min_len: int = 0
    max_len: int | None = None
    utf8: bool = False
    """Length counted in UTF-8 bytes (payloads) rather than characters."""
    sensitive: bool = False
    """AWS leaves the value out of the validation message."""
    enum: tuple[str, ...] = ()
    max_value: int | None = None


def _s(max_len: int, *, required: bool = False, min_len: int = 1, **kw: Any) -> Member:
    return Member(str, required=required, min_len=min_len, max_len=max_len, **kw)


_ARN = _s(256, required=True)
_TOKEN = _s(2048, required=True)
_NAME = _s(MAX_NAME_CHARS, required=True)
_MAX_RESULTS = Member(int, max_value=1000)
_PAGE = _s(1024)
_PAYLOAD = _s(MAX_OUTPUT_BYTES, min_len=0, utf8=True, sensitive=True)
_ERROR = _s(MAX_ERROR_CHARS, min_len=0, sensitive=True)
_CAUSE = _s(MAX_CAUSE_CHARS, min_len=0, sensitive=True)
_LIST = Member(list)
_STRUCT = Member(dict)

SHAPES: dict[str, dict[str, Member]] = {
    "CreateActivity": {"name": _NAME, "tags": _LIST, "encryptionConfiguration": _STRUCT},
    "DescribeActivity": {"activityArn": _ARN},
    "DeleteActivity": {"activityArn": _ARN},
    "ListActivities": {"maxResults": _MAX_RESULTS, "nextToken": _PAGE},
    "CreateStateMachine": {
        "name": _NAME,
        "definition": _s(1048576, required=True, utf8=True, sensitive=True),
        "roleArn": _ARN,
        "type": Member(str, enum=("STANDARD", "EXPRESS")),
        "loggingConfiguration": _STRUCT,
        "tags": _LIST,
        "tracingConfiguration": _STRUCT,
        "publish": Member(bool),
        "versionDescription": _s(256, min_len=0, sensitive=True),
        "encryptionConfiguration": _STRUCT,
    },
    "DescribeStateMachine": {"stateMachineArn": _ARN, "includedData": Member(str, enum=_INCLUDED)},
    "ListStateMachines": {"maxResults": _MAX_RESULTS, "nextToken": _PAGE},
    "UpdateStateMachine": {
        "stateMachineArn": _ARN,
        "definition": _s(1048576, utf8=True, sensitive=True),
        "roleArn": _s(256),
        "loggingConfiguration": _STRUCT,
        "tracingConfiguration": _STRUCT,
        "publish": Member(bool),
        "versionDescription": _s(256, min_len=0, sensitive=True),
        "encryptionConfiguration": _STRUCT,
    },
    "DeleteStateMachine": {"stateMachineArn": _ARN},
    "StartExecution": {
        "stateMachineArn": _ARN,
        "name": _s(80),
        "input": _PAYLOAD,
        "traceHeader": _s(256, min_len=0),
    },
    "DescribeExecution": {"executionArn": _ARN, "includedData": Member(str, enum=_INCLUDED)},
    "ListExecutions": {
        "stateMachineArn": _s(256),
        "statusFilter": Member(str, enum=_STATUSES),
        "maxResults": _MAX_RESULTS,
        "nextToken": _s(3096),
        "mapRunArn": _s(2000),
        "redriveFilter": Member(str, enum=("REDRIVEN", "NOT_REDRIVEN")),
    },
    "StopExecution": {"executionArn": _ARN, "error": _ERROR, "cause": _CAUSE},
    "GetExecutionHistory": {
        "executionArn": _ARN,
        "maxResults": _MAX_RESULTS,
        "reverseOrder": Member(bool),
        "nextToken": _PAGE,
        "includeExecutionData": Member(bool),
    },
    "GetActivityTask": {"activityArn": _ARN, "workerName": _s(80)},
    "SendTaskSuccess": {
        "taskToken": _TOKEN,
        "output": _s(262144, required=True, min_len=0, utf8=True, sensitive=True),
    },
    "SendTaskFailure": {"taskToken": _TOKEN, "error": _ERROR, "cause": _CAUSE},
    "SendTaskHeartbeat": {"taskToken": _TOKEN},
    "TagResource": {"resourceArn": _ARN, "tags": Member(list, required=True)},
    "UntagResource": {"resourceArn": _ARN, "tagKeys": Member(list, required=True)},
    "ListTagsForResource": {"resourceArn": _ARN},
    "DescribeStateMachineForExecution": {
        "executionArn": _ARN,
        "includedData": Member(str, enum=_INCLUDED),
    },
    "ValidateStateMachineDefinition": {
        "definition": _s(1048576, required=True, utf8=True, sensitive=True),
        "type": Member(str, enum=("STANDARD", "EXPRESS")),
        "severity": Member(str, enum=("ERROR", "WARNING")),
        "maxResults": Member(int, max_value=100),
    },
    "RedriveExecution": {"executionArn": _ARN, "clientToken": _s(64)},
}

_JSON_KIND = {str: "STRING_VALUE", bool: "BOOLEAN_VALUE", int: "NUMBER_VALUE"}
_EXPECTED = {str: "String", int: "Integer", bool: "Boolean", list: "List", dict: "Structure"}


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    if isinstance(value, float):
        return "NUMBER_VALUE"
    return _JSON_KIND.get(type(value), "VALUE")


def _length(value: str, member: Member) -> int:
    if member.utf8 and not value.isascii():
        return len(value.encode())
    return len(value)


def _shown(name: str, value: Any, member: Member) -> str:
    if member.sensitive:
        return f"Value at '{name}'"
    if value is None:
        return f"Value null at '{name}'"
    return f"Value '{value}' at '{name}'"


def check(operation: str, params: dict[str, Any]) -> None:
    """Raise SerializationException or ValidationException if `params` break the shape."""
    shape = SHAPES[operation]
    problems: list[str] = []
    for name, member in shape.items():
        value = params.get(name)
        if value is None:
            if member.required:
                problems.append(
                    f"{_shown(name, None, member)} failed to satisfy constraint: "
                    "Member must not be null"
                )
            continue
        kind = member.kind
        if type(value) is not kind and not (kind is int and type(value) is float):
            raise serialization(
                f"{_json_kind(value)} can not be converted to {_EXPECTED[kind]} at '{name}'"
            )
        problem = _constraint(value, member)
        if problem:
            problems.append(
                f"{_shown(name, value, member)} failed to satisfy constraint: {problem}"
            )
    if problems:
        raise validation(problems)


def _constraint(value: Any, member: Member) -> str | None:
    if isinstance(value, str):
        length = _length(value, member)
        if member.max_len is not None and length > member.max_len:
            return f"Member must have length less than or equal to {member.max_len}"
        if length < member.min_len:
            return f"Member must have length greater than or equal to {member.min_len}"
        if member.enum and value not in member.enum:
            return f"Member must satisfy enum value set: [{', '.join(member.enum)}]"
    elif member.kind is int:
        if value != int(value):
            return "Member must be an integer"
        if value < 0:
            return "Member must have value greater than or equal to 0"
        if member.max_value is not None and value > member.max_value:
            return f"Member must have value less than or equal to {member.max_value}"
    return None
