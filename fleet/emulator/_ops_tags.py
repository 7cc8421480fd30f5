"""Tag operations: TagResource, UntagResource, ListTagsForResource, and tags given at create."""

from __future__ import annotations

from typing import Any

from fleet._limits import MAX_TAGS
from fleet.emulator import _arns
from fleet.emulator._call import Call
from fleet.emulator._errors import ApiError, validation
from fleet.emulator._store import Activity, StateMachine

EMPTY = b"{}"


def parse_tags(raw: Any) -> dict[str, str]:
    """`[{"key", "value"}]` as a dict. Raises ValidationException or TooManyTags."""
    if raw is None:
        return {}
    tags: dict[str, str] = {}
    problems = []
    for index, tag in enumerate(raw):
        key = tag.get("key") if isinstance(tag, dict) else None
        value = tag.get("value", "") if isinstance(tag, dict) else None
        if not isinstance(key, str) or not 1 <= len(key) <= 128:
            problems.append(
                f"Value at 'tags.{index + 1}.member.key' failed to satisfy constraint: "
                "Member must have length between 1 and 128"
            )
        elif not isinstance(value, str) or len(value) > 256:
            problems.append(
                f"Value at 'tags.{index + 1}.member.value' failed to satisfy constraint: "
                "Member must have length less than or equal to 256"
            )
        else:
            tags[key] = value
    if problems:
        raise validation(problems)
    return tags


def check_count(tags: dict[str, str], arn: str) -> None:
    """Raise TooManyTags when a resource would carry more than AWS allows."""
    if len(tags) > MAX_TAGS:
        raise ApiError(
            "TooManyTags",
            f"Too many tags: a resource can have at most {MAX_TAGS} tags, got {len(tags)} "
            f"for '{arn}'",
        )


def _resource(call: Call, arn: str) -> Activity | StateMachine:
    store = call.runtime.store
    found = store.activities.get(arn) or store.machines.get(arn)
    if found is None:
        fields = arn.split(":")
        kind = fields[5] if len(fields) > 5 and fields[5] in ("activity", "stateMachine") else ""
        _arns.check(arn, kind or "stateMachine")
        raise ApiError("ResourceNotFound", f"Resource not found: '{arn}'")
    return found


def tag_resource(call: Call) -> Any:
    found = _resource(call, call.params["resourceArn"])
    merged = {**found.tags, **parse_tags(call.params["tags"])}
    check_count(merged, found.arn)
    found.tags = merged
    return EMPTY


def untag_resource(call: Call) -> Any:
    found = _resource(call, call.params["resourceArn"])
    for key in call.params["tagKeys"]:
        found.tags.pop(key, None)
    return EMPTY


def list_tags_for_resource(call: Call) -> Any:
    found = _resource(call, call.params["resourceArn"])
    return {"tags": [{"key": k, "value": v} for k, v in found.tags.items()]}
