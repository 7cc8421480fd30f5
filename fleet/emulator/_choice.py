"""Choice rules: compiled once from the definition into predicates over the state's input."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

from fleet.emulator._dataflow import StateDataError, rfc3339
from fleet.emulator._jsonpath import Env, Path, PathNotFound, compile_path

Predicate = Callable[[Any, Env], bool]

_ORDER = {
    "Equals": operator.eq,
    "LessThan": operator.lt,
    "GreaterThan": operator.gt,
    "LessThanEquals": operator.le,
    "GreaterThanEquals": operator.ge,
}
_TYPE_TESTS = ("IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp")


class RuleError(ValueError):
    """A Choice rule that is malformed; `where` is its location below the rule."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.where = where


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_timestamp = rfc3339


def _matcher(pattern: str) -> re.Pattern[str]:
    # `*` is the only wildcard; `\*` and `\\` are literal star and backslash.
    out, at = [], 0
    while at < len(pattern):
        char = pattern[at]
        if char == "\\" and at + 1 < len(pattern):
            out.append(re.escape(pattern[at + 1]))
            at += 2
            continue
        out.append(".*" if char == "*" else re.escape(char))
        at += 1
    return re.compile("".join(out), re.DOTALL)


# Per family: the check that a value belongs to it, and how to make it comparable.
_FAMILIES: dict[str, tuple[Callable[[Any], bool], Callable[[Any], Any]]] = {
    "String": (lambda v: isinstance(v, str), lambda v: v),
    "Numeric": (_is_number, lambda v: v),
    "Boolean": (lambda v: isinstance(v, bool), lambda v: v),
    "Timestamp": (lambda v: _timestamp(v) is not None, _timestamp),
}


def compile_rule(raw: Any, top: bool) -> Predicate:
    """Compile one rule; top-level rules carry `Next`, nested ones must not.

    Raises RuleError naming the offending field.
    """
    if not isinstance(raw, dict):
        raise RuleError("A choice rule must be a JSON object")
    fields = set(raw) - {"Comment"}
    if top:
        if "Next" not in raw:
            raise RuleError("These fields are required: [Next]")
        fields.discard("Next")
        fields.discard("Assign")
    elif "Next" in raw:
        raise RuleError("The field 'Next' is not supported in a nested choice rule", "/Next")
    for combinator in ("And", "Or"):
        if combinator in raw:
            _only(fields, combinator)
            rules = raw[combinator]
            if not isinstance(rules, list) or not rules:
                raise RuleError(f"'{combinator}' must be a non-empty array", f"/{combinator}")
            parts = [compile_rule(rule, top=False) for rule in rules]
            if combinator == "And":
                return lambda data, ctx: all(part(data, ctx) for part in parts)
            return lambda data, ctx: any(part(data, ctx) for part in parts)
    if "Not" in raw:
        _only(fields, "Not")
        inner = compile_rule(raw["Not"], top=False)
        return lambda data, ctx: not inner(data, ctx)
    if "Variable" not in raw:
        raise RuleError("These fields are required: [Variable]")
    fields.discard("Variable")
    if len(fields) != 1:
        raise RuleError("A choice rule must have exactly one comparison operator")
    (name,) = fields
    return _comparison(_path(raw["Variable"], "/Variable"), name, raw[name])


def _only(fields: set[str], name: str) -> None:
    extra = sorted(fields - {name})
    if extra:
        raise RuleError(f"The field '{extra[0]}' is not supported alongside '{name}'")


def _path(text: Any, where: str) -> Path:
    if not isinstance(text, str):
        raise RuleError("The value must be a JSONPath string", where)
    try:
        return compile_path(text, reference=True)
    except ValueError as exc:
        raise RuleError(str(exc), where) from None


def _read(path: Path, data: Any, ctx: Env) -> Any:
    try:
        return path.read(data, ctx)
    except PathNotFound:
        raise StateDataError(
            f"Invalid path '{path.text}': The choice state could not find an input value "
            "at this path"
        ) from None


def _comparison(variable: Path, name: str, operand: Any) -> Predicate:
    where = f"/{name}"
    if name in _TYPE_TESTS:
        if not isinstance(operand, bool):
            raise RuleError(f"The value of '{name}' must be a boolean", where)
        return _type_test(variable, name, operand)
    family = next((f for f in _FAMILIES if name.startswith(f)), None)
    if family is None:
        raise RuleError(f"The field '{name}' is not supported by Step Functions", where)
    suffix = name[len(family) :]
    is_path = suffix.endswith("Path")
    if is_path:
        suffix = suffix[:-4]
    belongs, key = _FAMILIES[family]
    if suffix == "Matches" and family == "String" and not is_path:
        if not isinstance(operand, str):
            raise RuleError("The value of 'StringMatches' must be a string", where)
        regex = _matcher(operand)
        return lambda data, ctx: (
            isinstance(value := _read(variable, data, ctx), str)
            and regex.fullmatch(value) is not None
        )
    compare = _ORDER.get(suffix)
    if compare is None or (family == "Boolean" and suffix != "Equals"):
        raise RuleError(f"The field '{name}' is not supported by Step Functions", where)
    if is_path:
        other = _path(operand, where)

        def by_path(data: Any, ctx: Env) -> bool:
            left, right = _read(variable, data, ctx), _read(other, data, ctx)
            return belongs(left) and belongs(right) and bool(compare(key(left), key(right)))

        return by_path
    if not belongs(operand):
        raise RuleError(f"The value of '{name}' has the wrong type", where)
    fixed = key(operand)

    def by_value(data: Any, ctx: Env) -> bool:
        value = _read(variable, data, ctx)
        return belongs(value) and bool(compare(key(value), fixed))

    return by_value


def _type_test(variable: Path, name: str, expected: bool) -> Predicate:
    def test(data: Any, ctx: Env) -> bool:
        try:
            value = variable.read(data, ctx)
        except PathNotFound:
            return name == "IsPresent" and not expected
        if name == "IsPresent":
            return expected
        found = {
            "IsNull": value is None,
            "IsNumeric": _is_number(value),
            "IsString": isinstance(value, str),
            "IsBoolean": isinstance(value, bool),
            "IsTimestamp": _timestamp(value) is not None,
        }[name]
        return found == expected

    return test
