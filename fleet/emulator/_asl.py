"""Amazon States Language definitions: parsed, validated and compiled for the interpreter.

Every state type runs (Map in INLINE mode only). Anything the endpoint cannot run is refused
with `InvalidDefinition` naming the part, never run wrongly.
"""

from __future__ import annotations

import json
from typing import Any

from fleet.emulator._asl_fields import MAX_SECONDS, Problems, seconds_field
from fleet.emulator._asl_states import Definition, State, parse_state
from fleet.emulator._errors import ApiError

__all__ = ["MAX_SECONDS", "Definition", "InvalidDefinition", "State", "parse"]

_TOP_FIELDS = ("StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage")
_GRAPH_FIELDS = ("StartAt", "States", "Comment")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


class _Duplicate(ValueError):
    pass


class InvalidDefinition(ApiError):
    """A definition that cannot run; `problems` lists (code, message, location)."""

    def __init__(self, message: str, problems: list[tuple[str, str, str]]) -> None:
        super().__init__("InvalidDefinition", f"Invalid State Machine Definition: '{message}'")
        self.problems = problems


def parse(text: str) -> Definition:
    """Parse and validate a definition. Raises ApiError `InvalidDefinition` listing problems."""
    problems = Problems()
    try:
        raw = json.loads(text, object_pairs_hook=_no_duplicates)
    except _Duplicate as exc:
        problems.add("/States", f"Duplicate State name: {exc}", "DUPLICATE_STATE_NAME")
        raise _invalid(problems) from None
    except ValueError as exc:
        raise InvalidDefinition(
            f"INVALID_JSON_DESCRIPTION: {exc}", [("INVALID_JSON_DESCRIPTION", str(exc), "/")]
        ) from None
    definition = _parse_top(raw, problems)
    if problems.items or definition is None:
        raise _invalid(problems)
    return definition


def _invalid(problems: Problems) -> InvalidDefinition:
    return InvalidDefinition(", ".join(problems.items), problems.found)


def _parse_top(raw: Any, problems: Problems) -> Definition | None:
    if not isinstance(raw, dict):
        problems.add("/", "The definition must be a JSON object")
        return None
    for name in raw:
        if name not in _TOP_FIELDS:
            problems.add("/", f"The field '{name}' is not supported by Step Functions")
    language = raw.get("QueryLanguage", "JSONPath")
    if language not in ("JSONPath", "JSONata"):
        problems.add("/QueryLanguage", "The value must be JSONPath or JSONata")
    else:
        problems.language = language
    graph = {k: v for k, v in raw.items() if k in _GRAPH_FIELDS}
    definition = parse_graph(graph, "", problems)
    if definition is not None and "TimeoutSeconds" in raw:
        definition.timeout_seconds = seconds_field(
            raw["TimeoutSeconds"], "/TimeoutSeconds", problems
        )
    return definition


def parse_graph(raw: Any, where: str, problems: Problems) -> Definition | None:
    """Compile `{StartAt, States}`: the whole machine, a Parallel branch or a Map processor."""
    if not isinstance(raw, dict):
        problems.add(where or "/", "The value must be a JSON object with StartAt and States")
        return None
    for name in raw:
        if name not in _GRAPH_FIELDS:
            problems.add(where or "/", f"The field '{name}' is not supported by Step Functions")
    start, states = raw.get("StartAt"), raw.get("States")
    if not isinstance(start, str) or not isinstance(states, dict) or not states:
        missing = [n for n, v in (("StartAt", start), ("States", states)) if not v]
        problems.add(
            where or "/", f"These fields are required: [{', '.join(missing) or 'StartAt'}]"
        )
        return None
    definition = Definition(start_at=start)
    for name, body in states.items():
        state = parse_state(name, body, f"{where}/States/{name}", problems, parse_graph)
        if state is not None:
            definition.states[name] = state
    if start not in states:
        problems.add(
            f"{where}/StartAt", f"Missing 'StartAt' target: {start}", "MISSING_TRANSITION_TARGET"
        )
    _check_graph(definition, states, where, problems)
    return definition


def _check_graph(
    definition: Definition, raw: dict[str, Any], prefix: str, problems: Problems
) -> None:
    for state in definition.states.values():
        where = f"{prefix}/States/{state.name}"
        targets = [("Next", state.next)] if state.next else []
        targets += [(f"Catch/{i}/Next", c.next) for i, c in enumerate(state.catchers)]
        targets += [(f"Choices/{i}/Next", c[1]) for i, c in enumerate(state.choices)]
        targets += [("Default", state.default)] if state.default else []
        for label, target in targets:
            if target not in raw:
                problems.add(
                    f"{where}/{label}",
                    f"Missing '{label.rsplit('/', 1)[-1]}' target: {target}",
                    "MISSING_TRANSITION_TARGET",
                )
    seen, todo = set(), [definition.start_at]
    while todo:
        name = todo.pop()
        found = definition.states.get(name)
        if name in seen or found is None:
            continue
        seen.add(name)
        todo += [found.next or "", found.default or ""]
        todo += [c.next for c in found.catchers] + [c[1] for c in found.choices]
    for name in raw:
        if name not in seen and name in definition.states:
            problems.add(
                f"{prefix}/States/{name}",
                f'State "{name}" is not reachable.',
                "MISSING_TRANSITION_TARGET",
            )
    terminal = [
        s
        for s in definition.states.values()
        if s.type in ("Succeed", "Fail") or (s.type != "Choice" and s.next is None)
    ]
    # Only worth saying when nothing else is wrong: other problems often cause it.
    if not problems.items and not terminal:
        problems.add(f"{prefix}/States", "No terminal state: the state machine can never end")
