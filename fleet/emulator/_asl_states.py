"""States of a definition: one parser per supported state type, compiled into `State` records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fleet._arn import ACTIVITY_ARN
from fleet.emulator._asl_fields import (
    MAX_SECONDS,
    ROOT,
    Problems,
    path_field,
    seconds_field,
    template_field,
)
from fleet.emulator._choice import Predicate, RuleError, compile_rule
from fleet.emulator._dataflow import Template
from fleet.emulator._jsonpath import Path
from fleet.emulator._retry import ALL, Catcher, Retrier

_SUPPORTED_TYPES = ("Task", "Pass", "Wait", "Choice", "Succeed", "Fail")
_ASL_TYPES = (*_SUPPORTED_TYPES, "Map", "Parallel")
_IO = ("InputPath", "OutputPath")
_FIELDS = {
    "Task": (
        *_IO,
        "Next",
        "End",
        "ResultPath",
        "Parameters",
        "ResultSelector",
        "Resource",
        "TimeoutSeconds",
        "TimeoutSecondsPath",
        "HeartbeatSeconds",
        "HeartbeatSecondsPath",
        "Retry",
        "Catch",
    ),
    "Pass": (*_IO, "Next", "End", "ResultPath", "Parameters", "Result"),
    "Wait": (*_IO, "Next", "End", "Seconds", "SecondsPath", "Timestamp", "TimestampPath"),
    "Choice": (*_IO, "Choices", "Default"),
    "Succeed": _IO,
    "Fail": ("Error", "Cause", "ErrorPath", "CausePath"),
}
# Valid States Language fields that this endpoint does not implement.
_KNOWN_UNSUPPORTED = frozenset(
    [
        "Arguments",
        "Output",
        "Assign",
        "QueryLanguage",
        "Credentials",
        "ItemsPath",
        "ItemSelector",
        "ItemProcessor",
        "ItemReader",
        "ItemBatcher",
        "ResultWriter",
        "MaxConcurrency",
        "MaxConcurrencyPath",
        "Iterator",
        "Branches",
        "ToleratedFailurePercentage",
        "ToleratedFailureCount",
        "ToleratedFailurePercentagePath",
        "ToleratedFailureCountPath",
        "Label",
    ]
)


@dataclass(slots=True)
class State:
    """One compiled state; fields that do not apply to its type keep their defaults."""

    name: str
    type: str
    next: str | None = None
    input_path: Path | None = ROOT
    output_path: Path | None = ROOT
    result_path: Path | None = ROOT
    parameters: Template | None = None
    result_selector: Template | None = None
    result: Any = None
    has_result: bool = False
    resource: str = ""
    timeout_seconds: int | None = None
    timeout_path: Path | None = None
    heartbeat_seconds: int | None = None
    heartbeat_path: Path | None = None
    retriers: tuple[Retrier, ...] = ()
    catchers: tuple[Catcher, ...] = ()
    choices: tuple[tuple[Predicate, str], ...] = ()
    default: str | None = None
    wait_field: str = ""
    wait_value: Any = None
    error: str | None = None
    cause: str | None = None
    error_path: Path | None = None
    cause_path: Path | None = None


def parse_state(name: str, body: Any, where: str, problems: Problems) -> State | None:
    if len(name) > 80:
        problems.add(where, "State names must be at most 80 characters long")
    if not isinstance(body, dict):
        problems.add(where, "A state must be a JSON object")
        return None
    kind = body.get("Type")
    if kind not in _SUPPORTED_TYPES:
        if kind in _ASL_TYPES:
            problems.add(where, f"Unsupported state type '{kind}'")
        elif kind is None:
            problems.add(where, "These fields are required: [Type]")
        else:
            problems.add(f"{where}/Type", f"Value is not a valid state type: {kind!r}")
        return None
    allowed = _FIELDS[kind]
    for key in body:
        if key in ("Type", "Comment") or key in allowed:
            continue
        if key in _KNOWN_UNSUPPORTED:
            problems.add(where, f"Unsupported field '{key}' in a {kind} state")
        else:
            problems.add(where, f"The field '{key}' is not supported by Step Functions")
    state = State(name=name, type=kind)
    _parse_transition(state, body, where, problems)
    _parse_io(state, body, where, problems)
    _TYPE_PARSERS[kind](state, body, where, problems)
    return state


def _parse_transition(state: State, body: dict[str, Any], where: str, problems: Problems) -> None:
    if state.type in ("Choice", "Succeed", "Fail"):
        return
    nxt, end = body.get("Next"), body.get("End")
    if nxt is not None and end is not None:
        problems.add(where, "The fields 'Next' and 'End' are mutually exclusive")
    elif nxt is None and end is not True:
        problems.add(where, 'These fields are required: [Next] (or "End": true)')
    if nxt is not None and not isinstance(nxt, str):
        problems.add(f"{where}/Next", "The value of 'Next' must be a state name")
    state.next = nxt if isinstance(nxt, str) else None


def _parse_io(state: State, body: dict[str, Any], where: str, problems: Problems) -> None:
    if state.type == "Fail":
        return
    state.input_path = path_field(body, "InputPath", where, problems, ROOT)
    state.output_path = path_field(body, "OutputPath", where, problems, ROOT)
    state.result_path = path_field(body, "ResultPath", where, problems, ROOT, reference=True)
    state.parameters = template_field(body, "Parameters", where, problems)
    state.result_selector = template_field(body, "ResultSelector", where, problems)


def _parse_task(state: State, body: dict[str, Any], where: str, problems: Problems) -> None:
    resource = body.get("Resource")
    if not isinstance(resource, str):
        problems.add(where, "These fields are required: [Resource]")
    elif not ACTIVITY_ARN.fullmatch(resource):
        if resource.startswith("arn:"):
            problems.add(
                f"{where}/Resource",
                f"Unsupported resource '{resource}': only activity ARNs "
                "(arn:aws:states:<region>:<account>:activity:<name>) can run here",
            )
        else:
            problems.add(f"{where}/Resource", "Value is not a valid resource ARN")
    else:
        state.resource = resource
    for key, path_key in (
        ("TimeoutSeconds", "TimeoutSecondsPath"),
        ("HeartbeatSeconds", "HeartbeatSecondsPath"),
    ):
        if key in body and path_key in body:
            problems.add(where, f"The fields '{key}' and '{path_key}' are mutually exclusive")
    if "TimeoutSeconds" in body:
        state.timeout_seconds = seconds_field(
            body["TimeoutSeconds"], f"{where}/TimeoutSeconds", problems
        )
    if "HeartbeatSeconds" in body:
        state.heartbeat_seconds = seconds_field(
            body["HeartbeatSeconds"], f"{where}/HeartbeatSeconds", problems
        )
    state.timeout_path = path_field(body, "TimeoutSecondsPath", where, problems, reference=True)
    state.heartbeat_path = path_field(body, "HeartbeatSecondsPath", where, problems, reference=True)
    heartbeat, timeout = state.heartbeat_seconds, state.timeout_seconds or MAX_SECONDS
    if heartbeat is not None and heartbeat >= timeout:
        problems.add(
            f"{where}/HeartbeatSeconds",
            "The value of 'HeartbeatSeconds' must be less than the value of 'TimeoutSeconds'",
        )
    state.retriers = tuple(_retriers(body.get("Retry", []), f"{where}/Retry", problems))
    state.catchers = tuple(_catchers(body.get("Catch", []), f"{where}/Catch", problems))


def _error_names(raw: Any, where: str, last: bool, problems: Problems) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(n, str) and n for n in raw):
        problems.add(where, "ErrorEquals must be a non-empty array of error names")
        return ()
    if ALL in raw and len(raw) > 1:
        problems.add(where, f"{ALL} must appear alone in ErrorEquals")
    if ALL in raw and not last:
        problems.add(where, f"{ALL} must appear only in the last retrier or catcher")
    return tuple(raw)


def _entries(raw: Any, where: str, problems: Problems) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(raw, list):
        problems.add(where, "The value must be an array")
        return []
    entries = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict):
            problems.add(f"{where}/{index}", "The value must be a JSON object")
            continue
        entries.append((index, entry))
    return entries


_RETRY_FIELDS = (
    "ErrorEquals",
    "IntervalSeconds",
    "MaxAttempts",
    "BackoffRate",
    "MaxDelaySeconds",
    "JitterStrategy",
    "Comment",
)


def _retriers(raw: Any, where: str, problems: Problems) -> list[Retrier]:
    out, entries = [], _entries(raw, where, problems)
    for index, entry in entries:
        at = f"{where}/{index}"
        for key in entry:
            if key not in _RETRY_FIELDS:
                problems.add(at, f"The field '{key}' is not supported by Step Functions")
        names = _error_names(
            entry.get("ErrorEquals"), f"{at}/ErrorEquals", index == len(raw) - 1, problems
        )
        interval = seconds_field(entry.get("IntervalSeconds", 1), f"{at}/IntervalSeconds", problems)
        attempts = seconds_field(
            entry.get("MaxAttempts", 3), f"{at}/MaxAttempts", problems, minimum=0
        )
        rate = entry.get("BackoffRate", 2.0)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or rate < 1.0:
            problems.add(f"{at}/BackoffRate", "The value must be a number >= 1.0")
            rate = 2.0
        max_delay = None
        if "MaxDelaySeconds" in entry:
            max_delay = seconds_field(entry["MaxDelaySeconds"], f"{at}/MaxDelaySeconds", problems)
        jitter = entry.get("JitterStrategy", "NONE")
        if jitter not in ("FULL", "NONE"):
            problems.add(f"{at}/JitterStrategy", "The value must be FULL or NONE")
        out.append(
            Retrier(
                names,
                interval or 1,
                3 if attempts is None else attempts,
                float(rate),
                max_delay,
                jitter == "FULL",
            )
        )
    return out


def _catchers(raw: Any, where: str, problems: Problems) -> list[Catcher]:
    out, entries = [], _entries(raw, where, problems)
    for index, entry in entries:
        at = f"{where}/{index}"
        for key in entry:
            if key not in ("ErrorEquals", "Next", "ResultPath", "Comment"):
                problems.add(at, f"The field '{key}' is not supported by Step Functions")
        names = _error_names(
            entry.get("ErrorEquals"), f"{at}/ErrorEquals", index == len(raw) - 1, problems
        )
        nxt = entry.get("Next")
        if not isinstance(nxt, str):
            problems.add(at, "These fields are required: [Next]")
            continue
        result_path = path_field(entry, "ResultPath", at, problems, ROOT, reference=True)
        out.append(Catcher(names, nxt, result_path))
    return out


def _parse_pass(state: State, body: dict[str, Any], where: str, problems: Problems) -> None:
    state.has_result = "Result" in body
    state.result = body.get("Result")


def _parse_wait(state: State, body: dict[str, Any], where: str, problems: Problems) -> None:
    given = [k for k in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath") if k in body]
    if len(given) != 1:
        problems.add(where, "Exactly one of Seconds, SecondsPath, Timestamp or TimestampPath")
        return
    (key,) = given
    state.wait_field = key
    if key == "Seconds":
        state.wait_value = seconds_field(body[key], f"{where}/Seconds", problems, minimum=0)
    elif key == "Timestamp":
        value = body[key]
        try:
            state.wait_value = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            problems.add(f"{where}/Timestamp", "The value must be an RFC3339 timestamp")
    else:
        state.wait_value = path_field(body, key, where, problems, reference=True)


def _parse_choice(state: State, body: dict[str, Any], where: str, problems: Problems) -> None:
    rules = body.get("Choices")
    if not isinstance(rules, list) or not rules:
        problems.add(where, "These fields are required: [Choices] (a non-empty array)")
        return
    choices = []
    for index, rule in enumerate(rules):
        try:
            predicate = compile_rule(rule, top=True)
        except RuleError as exc:
            problems.add(f"{where}/Choices/{index}{exc.where}", str(exc))
            continue
        if not isinstance(rule["Next"], str):
            problems.add(f"{where}/Choices/{index}/Next", "The value must be a state name")
            continue
        choices.append((predicate, rule["Next"]))
    state.choices = tuple(choices)
    default = body.get("Default")
    state.default = default if isinstance(default, str) else None


def _parse_fail(state: State, body: dict[str, Any], where: str, problems: Problems) -> None:
    for key in ("Error", "Cause"):
        if key in body and f"{key}Path" in body:
            problems.add(where, f"The fields '{key}' and '{key}Path' are mutually exclusive")
        if key in body and not isinstance(body[key], str):
            problems.add(f"{where}/{key}", "The value must be a string")
    state.error, state.cause = body.get("Error"), body.get("Cause")
    state.error_path = path_field(body, "ErrorPath", where, problems, reference=True)
    state.cause_path = path_field(body, "CausePath", where, problems, reference=True)


def _no_fields(state: State, body: dict[str, Any], where: str, problems: Problems) -> None:
    pass


_TYPE_PARSERS = {
    "Task": _parse_task,
    "Pass": _parse_pass,
    "Wait": _parse_wait,
    "Choice": _parse_choice,
    "Succeed": _no_fields,
    "Fail": _parse_fail,
}
