"""Intrinsic functions of the States Language (`States.Format(...)` and the rest).

An expression is parsed once, when the definition is validated, into a tree of calls whose
arguments are literals, paths or nested calls; running a state only evaluates that tree.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import re
import uuid
from collections.abc import Callable
from typing import Any

from fleet.emulator._jsonpath import (
    Env,
    Path,
    PathNotFound,
    PathSyntaxError,
    StateDataError,
    compile_path,
)

INTRINSIC_FAILURE = "States.IntrinsicFailure"
_MAX_ARRAY_RANGE = 1000
_HASHES = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}
_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    r"|(?P<call>States\.[A-Za-z0-9]+)\s*\(|(?P<word>true|false|null)\b"
    r"|(?P<path>\$[^,()\s]*(?:\([^)]*\)[^,()\s]*)*))",
)


class IntrinsicFailure(StateDataError):
    """An intrinsic function got arguments it cannot work with."""

    error = INTRINSIC_FAILURE


class Intrinsic:
    """A compiled call: `evaluate` returns its value for a state's input and environment."""

    __slots__ = ("args", "name", "text")

    def __init__(self, name: str, args: list[Any], text: str) -> None:
        self.name, self.args, self.text = name, args, text

    def evaluate(self, data: Any, env: Env) -> Any:
        """The function's result. Raises IntrinsicFailure (or StateDataError for a path)."""
        values = [_value(arg, data, env) for arg in self.args]
        try:
            return _FUNCTIONS[self.name][0](values)
        except IntrinsicFailure:
            raise
        except (TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
            raise IntrinsicFailure(f"Invalid arguments in {self.text}: {exc}") from None


class _Literal:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _value(arg: Any, data: Any, env: Env) -> Any:
    if isinstance(arg, _Literal):
        return arg.value
    if isinstance(arg, Intrinsic):
        return arg.evaluate(data, env)
    path: Path = arg
    try:
        return path.read(data, env)
    except PathNotFound:
        raise StateDataError(
            f"The JSONPath '{path.text}' could not be found in the input "
            f"'{json.dumps(data, separators=(',', ':'))}'"
        ) from None


def compile_intrinsic(text: str) -> Intrinsic:
    """Parse `States.Name(args...)`. Raises PathSyntaxError naming what is wrong."""
    call, at = _parse_call(text, 0)
    if text[at:].strip():
        raise PathSyntaxError(f"Unexpected text after the intrinsic function in {text!r}")
    return call


def _parse_call(text: str, at: int) -> tuple[Intrinsic, int]:
    match = _TOKEN.match(text, at)
    if match is None or match.group("call") is None:
        raise PathSyntaxError(f"Invalid intrinsic function call {text!r}")
    name = match.group("call")
    if name not in _FUNCTIONS:
        raise PathSyntaxError(f"Unsupported intrinsic function '{name}'")
    at = match.end()
    args: list[Any] = []
    if text[at:].lstrip().startswith(")"):
        at = text.index(")", at) + 1
    else:
        while True:
            arg, at = _parse_arg(text, at)
            args.append(arg)
            rest = text[at:].lstrip()
            at = len(text) - len(rest)
            if rest.startswith(","):
                at += 1
            elif rest.startswith(")"):
                at += 1
                break
            else:
                raise PathSyntaxError(f"Expected ',' or ')' at position {at} in {text!r}")
    low, high = _FUNCTIONS[name][1]
    if not low <= len(args) <= high:
        expected = str(low) if low == high else f"{low} to {high if high < 99 else 'any'}"
        raise PathSyntaxError(f"{name} takes {expected} arguments, got {len(args)}")
    return Intrinsic(name, args, text), at


def _parse_arg(text: str, at: int) -> tuple[Any, int]:
    match = _TOKEN.match(text, at)
    if match is None:
        raise PathSyntaxError(f"Invalid argument at position {at} in {text!r}")
    if match.group("call") is not None:
        return _parse_call(text, at)
    if match.group("string") is not None:
        return _Literal(_unquote(match.group("string")[1:-1])), match.end()
    if match.group("number") is not None:
        number = match.group("number")
        value: Any = float(number) if any(c in number for c in ".eE") else int(number)
        return _Literal(value), match.end()
    if match.group("word") is not None:
        return _Literal({"true": True, "false": False, "null": None}[match.group("word")]), (
            match.end()
        )
    return compile_path(match.group("path")), match.end()


def _unquote(body: str) -> str:
    # Inside a literal, a backslash escapes the next character: \' \{ \} \\ .
    return re.sub(r"\\(.)", r"\1", body)


# -- the functions ---------------------------------------------------------------------------


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise IntrinsicFailure(f"{what} must be a string, got {json.dumps(value)}")
    return value


def _array(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise IntrinsicFailure(f"{what} must be an array, got {json.dumps(value)}")
    return value


def _integer(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise IntrinsicFailure(f"{what} must be an integer, got {json.dumps(value)}")
    return int(value)


def _format(args: list[Any]) -> str:
    template = _string(args[0], "The template of States.Format")
    values = args[1:]
    pieces, used, at = [], 0, 0
    while at < len(template):
        char = template[at]
        if char == "\\" and at + 1 < len(template):
            pieces.append(template[at + 1])
            at += 2
            continue
        if template.startswith("{}", at):
            if used >= len(values):
                raise IntrinsicFailure("States.Format has more {} than arguments")
            value = values[used]
            pieces.append(value if isinstance(value, str) else _compact(value))
            used += 1
            at += 2
            continue
        pieces.append(char)
        at += 1
    if used != len(values):
        raise IntrinsicFailure("States.Format has more arguments than {}")
    return "".join(pieces)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _string_to_json(args: list[Any]) -> Any:
    text = _string(args[0], "The argument of States.StringToJson")
    try:
        return json.loads(text)
    except ValueError:
        raise IntrinsicFailure(f"States.StringToJson: not JSON: {text!r}") from None


def _partition(args: list[Any]) -> list[Any]:
    array = _array(args[0], "The array of States.ArrayPartition")
    size = _integer(args[1], "The chunk size of States.ArrayPartition")
    if size <= 0:
        raise IntrinsicFailure("The chunk size of States.ArrayPartition must be positive")
    return [array[i : i + size] for i in range(0, len(array), size)]


def _range(args: list[Any]) -> list[int]:
    start, end, step = (_integer(a, "Each argument of States.ArrayRange") for a in args)
    if step == 0:
        raise IntrinsicFailure("The step of States.ArrayRange must not be 0")
    values = list(range(start, end + (1 if step > 0 else -1), step))
    if len(values) > _MAX_ARRAY_RANGE:
        raise IntrinsicFailure(f"States.ArrayRange may make at most {_MAX_ARRAY_RANGE} items")
    return values


def _get_item(args: list[Any]) -> Any:
    array = _array(args[0], "The array of States.ArrayGetItem")
    index = _integer(args[1], "The index of States.ArrayGetItem")
    if not 0 <= index < len(array):
        raise IntrinsicFailure(f"States.ArrayGetItem: index {index} is out of range")
    return array[index]


def _unique(args: list[Any]) -> list[Any]:
    out: list[Any] = []
    seen: set[str] = set()
    for item in _array(args[0], "The argument of States.ArrayUnique"):
        key = json.dumps(item, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _base64_decode(args: list[Any]) -> str:
    text = _string(args[0], "The argument of States.Base64Decode")
    try:
        return base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise IntrinsicFailure(f"States.Base64Decode: not base64 text: {text!r}") from None


def _hash(args: list[Any]) -> str:
    data = args[0] if isinstance(args[0], str) else _compact(args[0])
    algorithm = _string(args[1], "The algorithm of States.Hash")
    if algorithm not in _HASHES:
        raise IntrinsicFailure(f"States.Hash supports {', '.join(_HASHES)}, not {algorithm!r}")
    return hashlib.new(_HASHES[algorithm], data.encode()).hexdigest()


def _merge(args: list[Any]) -> dict[str, Any]:
    left, right, deep = args
    if not isinstance(left, dict) or not isinstance(right, dict):
        raise IntrinsicFailure("States.JsonMerge merges two JSON objects")
    if deep is not False:
        raise IntrinsicFailure("States.JsonMerge supports only a shallow merge (false)")
    return {**left, **right}


def _random(args: list[Any]) -> int:
    start = _integer(args[0], "The start of States.MathRandom")
    end = _integer(args[1], "The end of States.MathRandom")
    if end <= start:
        raise IntrinsicFailure("The end of States.MathRandom must be above its start")
    if len(args) > 2:
        seed = _integer(args[2], "The seed of States.MathRandom")
        return random.Random(seed).randrange(start, end)
    return random.randrange(start, end)


def _add(args: list[Any]) -> int:
    return _integer(args[0], "States.MathAdd") + _integer(args[1], "States.MathAdd")


def _split(args: list[Any]) -> list[str]:
    text = _string(args[0], "The string of States.StringSplit")
    delimiters = _string(args[1], "The delimiters of States.StringSplit")
    if not delimiters:
        return [text]
    parts = re.split("|".join(re.escape(d) for d in delimiters), text)
    return [part for part in parts if part]


def _length(args: list[Any]) -> int:
    return len(_array(args[0], "The argument of States.ArrayLength"))


def _contains(args: list[Any]) -> bool:
    return args[1] in _array(args[0], "The array of States.ArrayContains")


_MANY = 99
_FUNCTIONS: dict[str, tuple[Callable[[list[Any]], Any], tuple[int, int]]] = {
    "States.Format": (_format, (1, _MANY)),
    "States.StringToJson": (_string_to_json, (1, 1)),
    "States.JsonToString": (lambda a: _compact(a[0]), (1, 1)),
    "States.Array": (list, (0, _MANY)),
    "States.ArrayPartition": (_partition, (2, 2)),
    "States.ArrayContains": (_contains, (2, 2)),
    "States.ArrayRange": (_range, (3, 3)),
    "States.ArrayGetItem": (_get_item, (2, 2)),
    "States.ArrayLength": (_length, (1, 1)),
    "States.ArrayUnique": (_unique, (1, 1)),
    "States.Base64Encode": (
        lambda a: base64.b64encode(_string(a[0], "States.Base64Encode").encode()).decode(),
        (1, 1),
    ),
    "States.Base64Decode": (_base64_decode, (1, 1)),
    "States.Hash": (_hash, (2, 2)),
    "States.JsonMerge": (_merge, (3, 3)),
    "States.MathRandom": (_random, (2, 3)),
    "States.MathAdd": (_add, (2, 2)),
    "States.StringSplit": (_split, (2, 2)),
    "States.UUID": (lambda a: str(uuid.uuid4()), (0, 0)),
}
