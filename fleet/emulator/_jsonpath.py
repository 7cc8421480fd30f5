"""JSONPaths of the States Language: `$`, `$$` and `$variable` roots, fields, indices.

Paths are compiled once when a definition is validated, so running a state only walks a tuple
of steps. Reference paths (ResultPath, Choice variables...) allow only fields and indices;
other paths may also use wildcards, deep scans (`..`), slices, unions and filters.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any, Protocol

from fleet.emulator._jsonpath_query import Deep, Filter, QueryStep, Slice, Union, children

_WILD = object()
_FIELD = re.compile(r"\.([^.\[\]]+)")
_SLICE = re.compile(r"\[\s*(-?\d*)\s*:\s*(-?\d*)\s*(?::\s*(-?\d*)\s*)?\]")
_UNION_ITEM = r"(?:-?\d+|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
_UNION = re.compile(rf"\[\s*{_UNION_ITEM}(?:\s*,\s*{_UNION_ITEM})+\s*\]")
_UNION_PART = re.compile(_UNION_ITEM)
_BRACKET = re.compile(r"\[\s*(?:'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"|(-?\d+)|(\*))\s*\]")


_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


class Env(Protocol):
    """Where paths other than `$` read from: the context object and the workflow variables."""

    @property
    def variables(self) -> dict[str, Any]:
        """Workflow variables in scope (`$name`)."""

    def context(self) -> Any:
        """The context object (`$$`)."""


class StateDataError(Exception):
    """Input or output processing failed at run time; the message is the failure's cause."""

    error = "States.Runtime"
    """The error name the state fails with."""


class PathSyntaxError(ValueError):
    """A path string outside the supported syntax; the message says what is wrong."""


class PathNotFound(LookupError):
    """A definite path named a member or index that the value does not have."""


class Path:
    """A compiled path: `get` reads it from a value, `put` writes a result at it."""

    __slots__ = ("context", "definite", "steps", "text", "var")

    def __init__(
        self, text: str, context: bool, steps: tuple[Any, ...], var: str | None = None
    ) -> None:
        self.text = text
        self.context = context
        """True for `$$` paths, which read the context object rather than the input."""
        self.var = var
        """The workflow variable a `$name...` path reads, if any."""
        self.steps = steps
        self.definite = all(isinstance(step, str | int) for step in steps)
        """False when the path has a wildcard and so yields a list of matches."""

    def __repr__(self) -> str:
        return f"Path({self.text!r})"

    @property
    def is_root(self) -> bool:
        """True for `$` itself: the value as it is."""
        return not self.steps and not self.context and self.var is None

    def read(self, data: Any, env: Env) -> Any:
        """The value at this path in `data`, the context object or a variable.

        Raises PathNotFound when a definite path (or the variable) does not exist.
        """
        if self.var is not None:
            variables = env.variables
            if self.var not in variables:
                raise PathNotFound(self.var)
            return self.get(variables[self.var])
        return self.get(env.context() if self.context else data)

    def get(self, value: Any) -> Any:
        """The value at this path; a list of every match for a wildcard path.

        Raises PathNotFound when a definite path does not exist in `value`.
        """
        if not self.steps:
            return value
        if self.definite:
            for step in self.steps:
                value = _step(value, step)
            return value
        matches = [value]
        for step in self.steps:
            if step is _WILD:
                matches = [item for m in matches for item in children(m)]
            elif isinstance(step, QueryStep):
                matches = [item for m in matches for item in step.apply(m)]
            else:
                found = []
                for m in matches:
                    with contextlib.suppress(PathNotFound):
                        found.append(_step(m, step))
                matches = found
        return matches

    def put(self, target: Any, result: Any) -> Any:
        """A copy of `target` with `result` stored at this (reference) path.

        Objects along the path are copied, never changed in place, so that the state's input
        stays as it was. Raises PathNotFound when a step crosses a value that is not an object.
        """
        if not self.steps:
            return result
        return _put(target, self.steps, result)


def _step(value: Any, step: Any) -> Any:
    if isinstance(step, str):
        if isinstance(value, dict) and step in value:
            return value[step]
    elif isinstance(value, list) and -len(value) <= step < len(value):
        return value[step]
    raise PathNotFound(step)


def _one(node: Any, step: Any) -> list[Any]:
    if step is _WILD:
        return children(node)
    if isinstance(step, QueryStep):
        return step.apply(node)
    try:
        return [_step(node, step)]
    except PathNotFound:
        return []


def _query_step(rest: str, at: int, text: str) -> tuple[Any, int] | None:
    """A filter, slice or union bracket at `rest[at:]`, with where it ends."""
    try:
        if rest.startswith("[?(", at):
            end = rest.find(")]", at)
            if end < 0:
                raise PathSyntaxError(f"Unclosed JSONPath filter expression in {text!r}")
            return Filter(rest[at + 3 : end]), end + 2
        sliced = _SLICE.match(rest, at)
        if sliced:
            bounds = [int(g) if g not in (None, "") else None for g in sliced.groups()]
            return Slice(*bounds), sliced.end()
        union = _UNION.match(rest, at)
        if union:
            keys: list[Any] = []
            for part in _UNION_PART.findall(union.group(0)):
                keys.append(re.sub(r"\\(.)", r"\1", part[1:-1]) if part[0] in "'\"" else int(part))
            return Union(keys), union.end()
    except ValueError as exc:
        raise PathSyntaxError(f"Invalid JSONPath {text!r}: {exc}") from None
    return None


def _put(target: Any, steps: tuple[Any, ...], result: Any) -> Any:
    head = steps[0]
    copy: Any
    if isinstance(head, str) and isinstance(target, dict):
        copy = dict(target)
        child = target.get(head)
    elif isinstance(head, int) and isinstance(target, list) and -len(target) <= head < len(target):
        copy = list(target)
        child = target[head]
    else:
        raise PathNotFound(head)
    if len(steps) == 1:
        copy[head] = result
    else:
        copy[head] = _put({} if child is None else child, steps[1:], result)
    return copy


def compile_path(text: str, *, reference: bool = False) -> Path:
    """Compile `text`; `reference` allows only field steps (ResultPath, Choice variables).

    Raises PathSyntaxError with a message fit for an InvalidDefinition answer.
    """
    if not isinstance(text, str) or not text.startswith("$"):
        raise PathSyntaxError(f"The value for the field must be a valid JSONPath: {text!r}")
    context = text.startswith("$$")
    rest = text[2:] if context else text[1:]
    var = None
    variable = None if context else _VARIABLE.match(text)
    if variable is not None:
        var = variable.group(1)
        rest = text[variable.end() :]
    steps: list[Any] = []
    at = 0
    while at < len(rest):
        if rest.startswith("..", at):
            inner, at = _deep_target(rest, at + 2, text)
            steps.append(Deep(inner, _one))
            continue
        if rest.startswith(".*", at):
            steps.append(_WILD)
            at += 2
            continue
        field = _FIELD.match(rest, at)
        if field:
            steps.append(field.group(1))
            at = field.end()
            continue
        bracket = _BRACKET.match(rest, at)
        if bracket is None:
            query = _query_step(rest, at, text)
            if query is None:
                raise PathSyntaxError(f"Unsupported or invalid JSONPath {text!r}")
            steps.append(query[0])
            at = query[1]
            continue
        single, double, index, star = bracket.groups()
        if star:
            steps.append(_WILD)
        elif index is not None:
            steps.append(int(index))
        else:
            quoted = single if single is not None else double
            steps.append(re.sub(r"\\(.)", r"\1", quoted))
        at = bracket.end()
    path = Path(text, context, tuple(steps), var)
    if reference and not path.definite:
        raise PathSyntaxError(
            f"The path {text!r} must be a reference path (no wildcards, filters, slices, "
            "unions or deep scans)"
        )
    return path


def _deep_target(rest: str, at: int, text: str) -> tuple[Any, int]:
    """What follows `..`: a member name, `*`, or a bracket."""
    if rest.startswith("*", at):
        return _WILD, at + 1
    name = re.compile(r"[^.\[\]]+").match(rest, at)
    if name:
        return name.group(0), name.end()
    bracket = _BRACKET.match(rest, at)
    if bracket:
        single, double, index, star = bracket.groups()
        if star:
            return _WILD, bracket.end()
        if index is not None:
            return int(index), bracket.end()
        quoted = single if single is not None else double
        return re.sub(r"\\(.)", r"\1", quoted), bracket.end()
    query = _query_step(rest, at, text)
    if query is None:
        raise PathSyntaxError(f"Invalid JSONPath deep scan in {text!r}")
    return query
