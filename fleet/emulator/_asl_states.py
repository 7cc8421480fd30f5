"""States of a definition: one parser per supported state type, compiled into `State` records."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fleet._arn import ACTIVITY_ARN, PARTITION_PATTERN
from fleet.emulator._asl_fields import (
    MAX_SECONDS,
    ROOT,
    Problems,
    path_field,
    seconds_field,
    template_field,
)
from fleet.emulator._asl_jsonata import (
    JSONATA_ONLY,
    JSONPATH_ONLY,
    expression,
    parse_choice,
    parse_common,
    parse_fail,
    parse_wait,
)
from fleet.emulator._asl_retry import catchers, retriers
from fleet.emulator._choice import Predicate, RuleError, compile_rule
from fleet.emulator._dataflow import Template, rfc3339
from fleet.emulator._jsonata import Expression, JsonataTemplate, is_expression
from fleet.emulator._jsonpath import Path
from fleet.emulator._retry import Catcher, Retrier

_RESOURCE = re.compile(rf"arn:{PARTITION_PATTERN}:[a-z0-9-]+:[a-z0-9-]*:(\d{{12}})?:\S+")
_SUPPORTED_TYPES = ("Task", "Pass", "Wait", "Choice", "Succeed", "Fail", "Parallel", "Map")
_IO = ("InputPath", "OutputPath")
_RESULT = ("ResultPath", "Parameters", "ResultSelector", "Retry", "Catch", "Assign")
_FIELDS = {
    "Task": (
        *_IO,
        *_RESULT,
        "Next",
        "End",
        "Resource",
        "TimeoutSeconds",
        "TimeoutSecondsPath",
        "HeartbeatSeconds",
        "HeartbeatSecondsPath",
    ),
    "Pass": (*_IO, "Next", "End", "ResultPath", "Parameters", "Result", "Assign"),
    "Wait": (
        *_IO,
        "Next",
        "End",
        "Seconds",
        "SecondsPath",
        "Timestamp",
        "TimestampPath",
        "Assign",
    ),
    "Choice": (*_IO, "Choices", "Default", "Assign"),
    "Succeed": _IO,
    "Fail": ("Error", "Cause", "ErrorPath", "CausePath"),
    "Parallel": (*_IO, *_RESULT, "Next", "End", "Branches"),
    "Map": (
        *_IO,
        *_RESULT,
        "Next",
        "End",
        "ItemsPath",
        "ItemSelector",
        "ItemProcessor",
        "Iterator",
        "MaxConcurrency",
        "MaxConcurrencyPath",
        "ToleratedFailurePercentage",
        "ToleratedFailureCount",
        "ToleratedFailurePercentagePath",
        "ToleratedFailureCountPath",
        "Label",
    ),
}
# Valid States Language fields that this endpoint does not implement.
_KNOWN_UNSUPPORTED = frozenset(
    [
        "Credentials",
        "ItemReader",
        "ItemBatcher",
        "ResultWriter",
    ]
)
_DISTRIBUTED_ONLY = ("ItemReader", "ItemBatcher", "ResultWriter")

GraphParser = Callable[[Any, str, Problems], "Definition | None"]
"""Parses the states of a Parallel branch or a Map item processor (mutual recursion)."""


@dataclass(slots=True)
class Definition:
    """A validated graph of states: a whole state machine, a branch or an item processor."""

    start_at: str
    states: dict[str, State] = field(default_factory=dict)
    timeout_seconds: int | None = None


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
    assign: Template | JsonataTemplate | None = None
    result: Any = None
    has_result: bool = False
    resource: str = ""
    activity: bool = True
    """Whether `resource` is an activity (else a service integration answered by a mock)."""
    timeout_seconds: int | None = None
    timeout_path: Path | None = None
    heartbeat_seconds: int | None = None
    heartbeat_path: Path | None = None
    retriers: tuple[Retrier, ...] = ()
    catchers: tuple[Catcher, ...] = ()
    choices: tuple[tuple[Predicate, str, Any, Any], ...] = ()
    """(rule, Next, Assign, Output) per Choice rule; Output only in JSONata."""
    default: str | None = None
    wait_field: str = ""
    wait_value: Any = None
    error: str | None = None
    cause: str | None = None
    error_path: Path | None = None
    cause_path: Path | None = None
    branches: tuple[Definition, ...] = ()
    processor: Definition | None = None
    items_path: Path | None = ROOT
    item_selector: Template | JsonataTemplate | None = None
    max_concurrency: int = 0
    max_concurrency_path: Path | None = None
    tolerated_count: int | None = None
    tolerated_count_path: Path | None = None
    tolerated_percentage: float | None = None
    tolerated_percentage_path: Path | None = None
    jsonata: bool = False
    """Whether the state is written in JSONata rather than JSONPath."""
    arguments: JsonataTemplate | None = None
    output: JsonataTemplate | None = None
    items: JsonataTemplate | None = None
    fail_template: JsonataTemplate | None = None
    timeout_expr: Expression | None = None
    heartbeat_expr: Expression | None = None


def parse_state(
    name: str, body: Any, where: str, problems: Problems, graph: GraphParser
) -> State | None:
    """Compile one state; problems are recorded, None when it cannot be compiled at all."""
    if len(name) > 80:
        problems.add(where, "State names must be at most 80 characters long")
    if not isinstance(body, dict):
        problems.add(where, "A state must be a JSON object")
        return None
    kind = body.get("Type")
    if kind not in _SUPPORTED_TYPES:
        if kind is None:
            problems.add(where, "These fields are required: [Type]")
        else:
            problems.add(f"{where}/Type", f"Value is not a valid state type: {kind!r}")
        return None
    language = body.get("QueryLanguage", problems.language)
    if language not in ("JSONPath", "JSONata"):
        problems.add(f"{where}/QueryLanguage", "The value must be JSONPath or JSONata")
    jsonata = language == "JSONata"
    if jsonata:
        allowed = {*_FIELDS[kind], *JSONATA_ONLY[kind]} - JSONPATH_ONLY
    else:
        allowed = set(_FIELDS[kind])
    for key in body:
        if key in ("Type", "Comment", "QueryLanguage") or key in allowed:
            continue
        if jsonata and key in JSONPATH_ONLY:
            problems.add(where, f"The field '{key}' is not supported with QueryLanguage JSONata")
            continue
        if not jsonata and key in JSONATA_ONLY[kind]:
            problems.add(where, f"The field '{key}' needs QueryLanguage JSONata")
            continue
        if key in _DISTRIBUTED_ONLY and kind == "Map":
            problems.add(
                where,
                f"Unsupported field '{key}': Map runs INLINE here; DISTRIBUTED mode "
                "(ItemReader, ItemBatcher, ResultWriter) is not supported by the local endpoint",
            )
        elif key in _KNOWN_UNSUPPORTED:
            problems.add(where, f"Unsupported field '{key}' in a {kind} state")
        else:
            problems.add(where, f"The field '{key}' is not supported by Step Functions")
    state = State(name=name, type=kind, jsonata=jsonata)
    _parse_transition(state, body, where, problems)
    if jsonata:
        parse_common(state, body, where, problems)
    else:
        _parse_io(state, body, where, problems)
        if kind not in ("Succeed", "Fail"):
            state.assign = template_field(body, "Assign", where, problems)
    if kind in ("Parallel", "Map"):
        _parse_errors(state, body, where, problems)
        (_parse_parallel if kind == "Parallel" else _parse_map)(state, body, where, problems, graph)
    else:
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
    elif ACTIVITY_ARN.fullmatch(resource):
        state.resource = resource
    elif _RESOURCE.fullmatch(resource):
        # A service integration: it runs only where a mock configuration answers it.
        state.resource, state.activity = resource, False
    else:
        problems.add(f"{where}/Resource", "Value is not a valid resource ARN")
    for key, path_key in (
        ("TimeoutSeconds", "TimeoutSecondsPath"),
        ("HeartbeatSeconds", "HeartbeatSecondsPath"),
    ):
        if key in body and path_key in body:
            problems.add(where, f"The fields '{key}' and '{path_key}' are mutually exclusive")
    for key in ("TimeoutSeconds", "HeartbeatSeconds"):
        if key not in body:
            continue
        if state.jsonata and is_expression(body[key]):
            # Evaluated when the task is scheduled, like the JSONPath *SecondsPath fields.
            compiled = expression(body[key], f"{where}/{key}", problems)
            if key == "TimeoutSeconds":
                state.timeout_expr = compiled
            else:
                state.heartbeat_expr = compiled
        elif key == "TimeoutSeconds":
            state.timeout_seconds = seconds_field(body[key], f"{where}/{key}", problems)
        else:
            state.heartbeat_seconds = seconds_field(body[key], f"{where}/{key}", problems)
    state.timeout_path = path_field(body, "TimeoutSecondsPath", where, problems, reference=True)
    state.heartbeat_path = path_field(body, "HeartbeatSecondsPath", where, problems, reference=True)
    heartbeat, timeout = state.heartbeat_seconds, state.timeout_seconds or MAX_SECONDS
    if heartbeat is not None and heartbeat >= timeout:
        problems.add(
            f"{where}/HeartbeatSeconds",
            "The value of 'HeartbeatSeconds' must be less than the value of 'TimeoutSeconds'",
        )
    _parse_errors(state, body, where, problems)


def _parse_errors(state: State, body: dict[str, Any], where: str, problems: Problems) -> None:
    state.retriers = tuple(retriers(body.get("Retry", []), f"{where}/Retry", problems))
    state.catchers = tuple(
        catchers(body.get("Catch", []), f"{where}/Catch", problems, jsonata=state.jsonata)
    )


def _parse_pass(state: State, body: dict[str, Any], where: str, problems: Problems) -> None:
    state.has_result = "Result" in body
    state.result = body.get("Result")


def _parse_wait(state: State, body: dict[str, Any], where: str, problems: Problems) -> None:
    if state.jsonata and parse_wait(state, body, where, problems):
        return
    given = [k for k in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath") if k in body]
    if len(given) != 1:
        problems.add(where, "Exactly one of Seconds, SecondsPath, Timestamp or TimestampPath")
        return
    (key,) = given
    state.wait_field = key
    if key == "Seconds":
        state.wait_value = seconds_field(body[key], f"{where}/Seconds", problems, minimum=0)
    elif key == "Timestamp":
        state.wait_value = rfc3339(body[key])
        if state.wait_value is None:
            problems.add(
                f"{where}/Timestamp",
                "The value must be an RFC 3339 timestamp with a zone, e.g. 2024-01-01T00:00:00Z",
            )
    else:
        state.wait_value = path_field(body, key, where, problems, reference=True)


def _parse_choice(state: State, body: dict[str, Any], where: str, problems: Problems) -> None:
    if state.jsonata:
        parse_choice(state, body, where, problems)
        return
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
        assign = template_field(rule, "Assign", f"{where}/Choices/{index}", problems)
        choices.append((predicate, rule["Next"], assign, None))
    state.choices = tuple(choices)
    default = body.get("Default")
    state.default = default if isinstance(default, str) else None


def _parse_fail(state: State, body: dict[str, Any], where: str, problems: Problems) -> None:
    if state.jsonata:
        parse_fail(state, body, where, problems)
        return
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


def _parse_parallel(
    state: State, body: dict[str, Any], where: str, problems: Problems, graph: GraphParser
) -> None:
    branches = body.get("Branches")
    if not isinstance(branches, list) or not branches:
        problems.add(where, "These fields are required: [Branches] (a non-empty array)")
        return
    parsed = [graph(raw, f"{where}/Branches/{i}", problems) for i, raw in enumerate(branches)]
    state.branches = tuple(b for b in parsed if b is not None)


def _parse_map(
    state: State, body: dict[str, Any], where: str, problems: Problems, graph: GraphParser
) -> None:
    if "ItemProcessor" in body and "Iterator" in body:
        problems.add(where, "The fields 'ItemProcessor' and 'Iterator' are mutually exclusive")
    processor = body.get("ItemProcessor", body.get("Iterator"))
    key = "ItemProcessor" if "ItemProcessor" in body else "Iterator"
    if not isinstance(processor, dict):
        problems.add(where, "These fields are required: [ItemProcessor]")
        return
    config = processor.get("ProcessorConfig", {})
    mode = config.get("Mode", "INLINE") if isinstance(config, dict) else None
    if mode == "DISTRIBUTED":
        problems.add(
            f"{where}/{key}/ProcessorConfig/Mode",
            "Map mode DISTRIBUTED is not supported by the local endpoint (Map runs INLINE)",
        )
    elif mode != "INLINE":
        problems.add(f"{where}/{key}/ProcessorConfig", "Mode must be INLINE or DISTRIBUTED")
    inner = {k: v for k, v in processor.items() if k != "ProcessorConfig"}
    state.processor = graph(inner, f"{where}/{key}", problems)
    if state.jsonata:
        state.items_path = ROOT
    else:
        if "Parameters" in body and "ItemSelector" in body:
            problems.add(where, "The fields 'Parameters' and 'ItemSelector' are mutually exclusive")
        # Parameters is the older name of ItemSelector in a Map state.
        selector = template_field(body, "ItemSelector", where, problems)
        state.item_selector = selector or state.parameters
        state.parameters = None
        state.items_path = path_field(body, "ItemsPath", where, problems, ROOT, reference=True)
    for fixed, path, kind in (
        ("MaxConcurrency", "MaxConcurrencyPath", "count"),
        ("ToleratedFailureCount", "ToleratedFailureCountPath", "count"),
        ("ToleratedFailurePercentage", "ToleratedFailurePercentagePath", "percent"),
    ):
        if fixed in body and path in body:
            problems.add(where, f"The fields '{fixed}' and '{path}' are mutually exclusive")
        value = body.get(fixed)
        if value is not None and not valid_limit(value, kind):
            problems.add(f"{where}/{fixed}", _LIMIT_WORDS[kind])
            value = None
        compiled = path_field(body, path, where, problems, reference=True)
        if fixed == "MaxConcurrency":
            state.max_concurrency, state.max_concurrency_path = int(value or 0), compiled
        elif fixed == "ToleratedFailureCount":
            state.tolerated_count, state.tolerated_count_path = value, compiled
        else:
            state.tolerated_percentage, state.tolerated_percentage_path = value, compiled


_LIMIT_WORDS = {
    "count": "The value must be a non-negative integer",
    "percent": "The value must be a number between 0 and 100",
}


def valid_limit(value: Any, kind: str) -> bool:
    """Whether `value` is a valid MaxConcurrency/ToleratedFailure* value of `kind`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if kind == "count":
        return value == int(value) and value >= 0
    return 0 <= value <= 100
