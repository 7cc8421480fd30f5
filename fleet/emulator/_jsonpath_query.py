"""The query steps of non-reference JSONPaths: deep scan `..`, slices, unions and filters.

AWS evaluates InputPath, OutputPath and payload-template paths with the full JSONPath syntax;
a path with any of these steps yields the list of its matches, as a wildcard does.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable
from typing import Any

_LITERAL = r"(?:-?\d+(?:\.\d+)?|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|true|false|null)"
_OPERAND = re.compile(
    r"\s*@((?:\.[A-Za-z_$][\w$-]*|\[\s*(?:-?\d+|'[^']*'|\"[^\"]*\")\s*\])*)\s*"
    rf"(?:(==|!=|<=|>=|<|>)\s*({_LITERAL})\s*)?$"
)
_MEMBER = re.compile(r"\.([A-Za-z_$][\w$-]*)|\[\s*(-?\d+|'[^']*'|\"[^\"]*\")\s*\]")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_MISSING = object()


class QueryStep:
    """A step that maps one value to any number of matches."""

    def apply(self, value: Any) -> list[Any]:
        """The matches of this step in `value`."""
        raise NotImplementedError


def children(value: Any) -> list[Any]:
    """The members of an object or the items of an array; nothing for a scalar."""
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return value
    return []


def _descendants(value: Any) -> list[Any]:
    out = [value]
    for child in children(value):
        out.extend(_descendants(child))
    return out


class Deep(QueryStep):
    """`..name`, `..*` or `..[...]`: the inner step applied at every depth."""

    def __init__(self, inner: Any, select: Callable[[Any, Any], list[Any]]) -> None:
        self.inner, self._select = inner, select

    def apply(self, value: Any) -> list[Any]:
        return [match for node in _descendants(value) for match in self._select(node, self.inner)]


class Slice(QueryStep):
    """`[start:end:step]` of an array."""

    def __init__(self, start: int | None, end: int | None, step: int | None) -> None:
        if step == 0:
            raise ValueError("slice step cannot be zero")
        self.bounds = slice(start, end, step)

    def apply(self, value: Any) -> list[Any]:
        return list(value[self.bounds]) if isinstance(value, list) else []


class Union(QueryStep):
    """`[0,2]` or `['a','b']`: several indices or member names."""

    def __init__(self, keys: list[Any]) -> None:
        self.keys = keys

    def apply(self, value: Any) -> list[Any]:
        found = (_member(value, key) for key in self.keys)
        return [item for item in found if item is not _MISSING]


class Filter(QueryStep):
    """`[?(@.price < 10 && @.tags)]`: the array items (or object members) the test holds for."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._any = [
            [_condition(term) for term in _split(alternative, "&&")]
            for alternative in _split(text, "||")
        ]

    def apply(self, value: Any) -> list[Any]:
        return [item for item in children(value) if self._holds(item)]

    def _holds(self, item: Any) -> bool:
        return any(all(test(item) for test in terms) for terms in self._any)


def _split(text: str, separator: str) -> list[str]:
    # Operators inside quoted literals are not separators.
    parts, quote, start, at = [], "", 0, 0
    while at < len(text):
        char = text[at]
        if quote:
            if char == "\\":
                at += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif text.startswith(separator, at):
            parts.append(text[start:at])
            start = at + len(separator)
            at = start
            continue
        at += 1
    parts.append(text[start:])
    return parts


def _condition(term: str) -> Callable[[Any], bool]:
    term = term.strip()
    while term.startswith("(") and term.endswith(")"):
        term = term[1:-1].strip()
    match = _OPERAND.match(term)
    if match is None:
        raise ValueError(f"unsupported filter condition {term!r}")
    members = [name or _key(bracket) for name, bracket in _MEMBER.findall(match.group(1))]
    op, literal = match.group(2), match.group(3)

    def read(item: Any) -> Any:
        for member in members:
            item = _member(item, member)
            if item is _MISSING:
                break
        return item

    if op is None:
        return lambda item: read(item) is not _MISSING
    expected = _literal(literal)
    compare = _COMPARE[op]

    def test(item: Any) -> bool:
        found = read(item)
        if found is _MISSING:
            return False
        numbers = all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in (found, expected)
        )
        if op not in ("==", "!=") and not numbers and type(found) is not type(expected):
            return False
        try:
            return bool(compare(found, expected))
        except TypeError:
            return False

    return test


def _member(value: Any, key: str | int) -> Any:
    """`value[key]` for an object member or an array index; `_MISSING` if there is none."""
    if isinstance(key, str):
        return value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
    if isinstance(value, list) and -len(value) <= key < len(value):
        return value[key]
    return _MISSING


def _key(text: str) -> Any:
    text = text.strip()
    if text[0] in "'\"":
        return text[1:-1]
    return int(text)


def _literal(text: str) -> Any:
    if text[0] == "'":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return json.loads(text)
