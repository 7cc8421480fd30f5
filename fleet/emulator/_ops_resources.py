"""Activity and state machine operations: Create/Describe/List/Update/Delete."""

from __future__ import annotations

import time
from typing import Any

from fleet.emulator import _arns
from fleet.emulator._asl import InvalidDefinition, parse
from fleet.emulator._call import Call
from fleet.emulator._errors import ApiError
from fleet.emulator._ops_tags import check_count, parse_tags
from fleet.emulator._pages import page
from fleet.emulator._store import DEFAULT_LOGGING, DEFAULT_TRACING, Activity, StateMachine

EMPTY = b"{}"


def _prefix(call: Call, kind: str) -> str:
    return _arns.build(call.region, call.account, kind, "")


def activity(call: Call, arn: str) -> Activity:
    """The activity at `arn`. Raises InvalidArn or ActivityDoesNotExist."""
    found = call.runtime.store.activities.get(arn)
    if found is None:
        _arns.check(arn, "activity")
        raise ApiError("ActivityDoesNotExist", f"Activity Does Not Exist: '{arn}'")
    return found


def machine(call: Call, arn: str) -> StateMachine:
    """The state machine at `arn`. Raises InvalidArn or StateMachineDoesNotExist."""
    found = call.runtime.store.machines.get(arn)
    if found is None:
        _arns.check(arn, "stateMachine")
        raise ApiError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")
    return found


def create_activity(call: Call) -> Any:
    name = call.params["name"]
    _arns.check_name(name)
    arn = _arns.build(call.region, call.account, "activity", name)
    tags = parse_tags(call.params.get("tags"))
    check_count(tags, arn)
    activities = call.runtime.store.activities
    found = activities.get(arn)
    if found is None:
        # CreateActivity is idempotent on the name: a second call returns the same ARN (and
        # keeps the first call's tags).
        found = activities[arn] = Activity(arn, name, time.time(), tags=tags)
    return {"activityArn": arn, "creationDate": found.created}


def describe_activity(call: Call) -> Any:
    found = activity(call, call.params["activityArn"])
    return {
        "activityArn": found.arn,
        "name": found.name,
        "creationDate": found.created,
        "encryptionConfiguration": {"type": "AWS_OWNED_KEY"},
    }


def delete_activity(call: Call) -> Any:
    arn = call.params["activityArn"]
    if call.runtime.store.activities.pop(arn, None) is None:
        _arns.check(arn, "activity")
    return EMPTY


def list_activities(call: Call) -> Any:
    prefix = _prefix(call, "activity")
    items = [a for a in call.runtime.store.activities.values() if a.arn.startswith(prefix)]
    items.sort(key=lambda a: a.seq)
    chunk, token = page(items, call.params, "activities", lambda a: a.seq)
    out: dict[str, Any] = {
        "activities": [
            {"activityArn": a.arn, "name": a.name, "creationDate": a.created} for a in chunk
        ]
    }
    if token:
        out["nextToken"] = token
    return out


def _no_versions(params: dict[str, Any]) -> None:
    # Versions and aliases are not kept: say so rather than answer without a version ARN.
    if params.get("publish"):
        raise ApiError(
            "ValidationException",
            "publish: state machine versions and aliases are not supported by the local endpoint",
        )


def create_state_machine(call: Call) -> Any:
    params = call.params
    _no_versions(params)
    name, text, role = params["name"], params["definition"], params["roleArn"]
    _arns.check_name(name)
    _arns.check_role(role)
    if params.get("type", "STANDARD") != "STANDARD":
        raise ApiError(
            "StateMachineTypeNotSupported",
            "Express state machines are not supported by the local endpoint (activities need "
            "STANDARD)",
        )
    definition = parse(text)
    arn = _arns.build(call.region, call.account, "stateMachine", name)
    tags = parse_tags(params.get("tags"))
    check_count(tags, arn)
    logging = _logging(params.get("loggingConfiguration"))
    tracing = _tracing(params.get("tracingConfiguration"))
    machines = call.runtime.store.machines
    found = machines.get(arn)
    if found is not None:
        if found.status == "DELETING":
            raise ApiError("StateMachineDeleting", f"State Machine is being deleted: '{arn}'")
        if found.definition_text != text or found.role_arn != role:
            raise ApiError("StateMachineAlreadyExists", f"State Machine Already Exists: '{arn}'")
    else:
        found = machines[arn] = StateMachine(
            arn, name, text, definition, role, time.time(), tags=tags
        )
        found.logging, found.tracing = logging, tracing
    return {"stateMachineArn": arn, "creationDate": found.created}


def describe_state_machine(call: Call) -> Any:
    found = machine(call, call.params["stateMachineArn"])
    out = {
        "stateMachineArn": found.arn,
        "name": found.name,
        "status": found.status,
        "definition": found.definition_text,
        "roleArn": found.role_arn,
        "type": "STANDARD",
        "creationDate": found.created,
        "loggingConfiguration": found.logging,
        "tracingConfiguration": found.tracing,
        "encryptionConfiguration": {"type": "AWS_OWNED_KEY"},
    }
    if call.params.get("includedData") == "METADATA_ONLY":
        del out["definition"]
    return out


_LEVELS = ("ALL", "ERROR", "FATAL", "OFF")


def _logging(raw: Any) -> dict[str, Any]:
    """A loggingConfiguration as stored and described. Raises InvalidLoggingConfiguration."""
    if raw is None:
        return dict(DEFAULT_LOGGING)
    level = raw.get("level", "OFF")
    destinations = raw.get("destinations", [])
    if level not in _LEVELS:
        raise ApiError(
            "InvalidLoggingConfiguration",
            f"Invalid Logging Configuration: level must be one of {', '.join(_LEVELS)}",
        )
    if not isinstance(destinations, list) or len(destinations) > 1:
        raise ApiError(
            "InvalidLoggingConfiguration",
            "Invalid Logging Configuration: at most one destination is allowed",
        )
    if level != "OFF" and not destinations:
        raise ApiError(
            "InvalidLoggingConfiguration",
            "Invalid Logging Configuration: Must specify exactly one Log Destination if "
            "logging level is not OFF.",
        )
    out: dict[str, Any] = {
        "level": level,
        "includeExecutionData": bool(raw.get("includeExecutionData", False)),
    }
    if destinations:
        out["destinations"] = destinations
    return out


def _tracing(raw: Any) -> dict[str, Any]:
    if raw is None:
        return dict(DEFAULT_TRACING)
    enabled = raw.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ApiError(
            "InvalidTracingConfiguration", "Invalid Tracing Configuration: enabled must be boolean"
        )
    return {"enabled": enabled}


def validate_state_machine_definition(call: Call) -> Any:
    """Check a definition without creating anything; problems come back as diagnostics."""
    params = call.params
    if params.get("type", "STANDARD") != "STANDARD":
        raise ApiError(
            "ValidationException", "Express state machines are not supported by the local endpoint"
        )
    try:
        parse(params["definition"])
    except InvalidDefinition as invalid:
        limit = params.get("maxResults") or 100
        found = invalid.problems
        return {
            "result": "FAIL",
            "diagnostics": [
                {"severity": "ERROR", "code": code, "message": message, "location": where}
                for code, message, where in found[:limit]
            ],
            "truncated": len(found) > limit,
        }
    return {"result": "OK", "diagnostics": [], "truncated": False}


def update_state_machine(call: Call) -> Any:
    params = call.params
    _no_versions(params)
    found = machine(call, params["stateMachineArn"])
    text, role = params.get("definition"), params.get("roleArn")
    if (
        text is None
        and role is None
        and not (params.get("loggingConfiguration") or params.get("tracingConfiguration"))
    ):
        raise ApiError(
            "MissingRequiredParameter",
            "Either the definition, the role ARN, the LoggingConfiguration, "
            "or the TracingConfiguration must be specified",
        )
    if found.status == "DELETING":
        raise ApiError("StateMachineDeleting", f"State Machine is being deleted: '{found.arn}'")
    if role is not None:
        _arns.check_role(role)
    logging = params.get("loggingConfiguration")
    tracing = params.get("tracingConfiguration")
    new_logging = _logging(logging) if logging is not None else found.logging
    new_tracing = _tracing(tracing) if tracing is not None else found.tracing
    if text is not None:
        # Running executions keep the definition they started with.
        found.definition = parse(text)
        found.definition_text = text
    if role is not None:
        found.role_arn = role
    found.logging, found.tracing = new_logging, new_tracing
    found.updated = time.time()
    return {"updateDate": found.updated}


def delete_state_machine(call: Call) -> Any:
    arn = call.params["stateMachineArn"]
    store = call.runtime.store
    found = store.machines.get(arn)
    if found is None:
        _arns.check(arn, "stateMachine")
    elif found.running:
        # Deletion waits for running executions; new ones are refused meanwhile.
        found.status = "DELETING"
    else:
        del store.machines[arn]
    return EMPTY


def list_state_machines(call: Call) -> Any:
    prefix = _prefix(call, "stateMachine")
    items = [m for m in call.runtime.store.machines.values() if m.arn.startswith(prefix)]
    items.sort(key=lambda m: m.seq)
    chunk, token = page(items, call.params, "stateMachines", lambda m: m.seq)
    out: dict[str, Any] = {
        "stateMachines": [
            {
                "stateMachineArn": m.arn,
                "name": m.name,
                "type": "STANDARD",
                "creationDate": m.created,
            }
            for m in chunk
        ]
    }
    if token:
        out["nextToken"] = token
    return out
