"""Input and output processing of a state: InputPath, payload templates, ResultPath, OutputPath."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from fleet.emulator._intrinsics import Intrinsic, compile_intrinsic
from fleet.emulator._jsonpath import (
    Env,
    Path,
    PathNotFound,
    PathSyntaxError,
    StateDataError,
    compile_path,
)

__all__ = ["MAX_SECONDS", "Env", "StateDataError", "Template", "place", "rfc3339", "select"]

MAX_SECONDS = 99999999
"""The largest value of any seconds field of the States Language (its default timeouts)."""


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def rfc3339(value: Any) -> datetime | None:
    """`value` as a zone-aware datetime if it is an RFC 3339 timestamp with a zone, else None."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        return None
    text = value.upper().replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        # Python reads at most six fraction digits; RFC 3339 allows any number.
        digits = len(rest) - 6
        rest = rest[:digits][:6].ljust(6, "0") + rest[digits:]
        text = f"{head}.{rest}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


class Template:
    """A compiled payload template."""

    __slots__ = ("_node",)

    def __init__(self, raw: Any) -> None:
        self._node = self._compile(raw)

    def _compile(self, raw: Any) -> Any:
        if isinstance(raw, dict):
            fields: list[tuple[str, Any, str | None]] = []
            for key, value in raw.items():
                if key.endswith(".$"):
                    if not isinstance(value, str):
                        raise PathSyntaxError(f"The value for the field '{key}' must be a STRING")
                    expression: Path | Intrinsic = (
                        compile_intrinsic(value)
                        if value.startswith("States.")
                        else compile_path(value)
                    )
                    fields.append((key[:-2], expression, key))
                else:
                    fields.append((key, self._compile(value), None))
            return fields
        if isinstance(raw, list):
            return ("list", [self._compile(item) for item in raw])
        return ("value", raw)

    def render(self, data: Any, env: Env) -> Any:
        """Build the payload from the effective input `data`, the context and the variables.

        Raises StateDataError, worded as AWS words it, when a path is missing from the input,
        or IntrinsicFailure when an intrinsic function cannot work with its arguments.
        """
        return self._render(self._node, data, env)

    def _render(self, node: Any, data: Any, env: Env) -> Any:
        if isinstance(node, tuple):
            kind, inner = node
            if kind == "value":
                return inner
            return [self._render(item, data, env) for item in inner]
        out: dict[str, Any] = {}
        for name, value, key in node:
            if key is None:
                out[name] = self._render(value, data, env)
                continue
            if isinstance(value, Intrinsic):
                out[name] = value.evaluate(data, env)
                continue
            try:
                out[name] = value.read(data, env)
            except PathNotFound:
                source = env.context() if value.context else data
                shown = json.dumps(source, separators=(",", ":"))
                raise StateDataError(
                    f"The JSONPath '{value.text}' specified for the field '{key}' could not be "
                    f"found in the input '{shown}'"
                ) from None
        return out


def select(path: Path | None, data: Any, env: Env) -> Any:
    """InputPath/OutputPath: the value at `path`, `{}` for a null path.

    Raises StateDataError ("Invalid path ...") when the path does not exist.
    """
    if path is None:
        return {}
    if path.is_root:
        return data
    try:
        return path.read(data, env)
    except PathNotFound:
        raise StateDataError(
            f"Invalid path '{path.text}' : No results for path: {_bracketed(path)}"
        ) from None


def place(path: Path | None, data: Any, result: Any) -> Any:
    """ResultPath: `data` with `result` stored at `path`; `data` itself for a null path.

    Raises StateDataError when the path crosses a value that is not an object.
    """
    if path is None:
        return data
    try:
        return path.put(data, result)
    except PathNotFound:
        shown = json.dumps(data, separators=(",", ":"))
        raise StateDataError(
            f"Unable to apply ResultPath '{path.text}' to input '{shown}'"
        ) from None


def _bracketed(path: Path) -> str:
    parts = "".join(f"[{s}]" if isinstance(s, int) else f"['{s}']" for s in path.steps)
    root = f"${path.var}" if path.var else "$$" if path.context else "$"
    return root + parts


def seconds_at(fixed: int | None, path: Path | None, data: Any, env: Env) -> int | None:
    """TimeoutSeconds/HeartbeatSeconds: the fixed value, or the positive integer at `path`."""
    if path is None:
        return fixed
    try:
        value = path.read(data, env)
    except PathNotFound:
        raise StateDataError(f"Invalid path '{path.text}' : No results for path") from None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SECONDS:
        raise StateDataError(f"The value at '{path.text}' must be a positive integer")
    return value


def wait_target(path: Path, data: Any, env: Env, field: str) -> float | datetime:
    """SecondsPath (seconds to wait) or TimestampPath (when to stop waiting) of a Wait state."""
    try:
        value = path.read(data, env)
    except PathNotFound:
        raise StateDataError(f"Invalid path '{path.text}' : No results for path") from None
    if field == "SecondsPath":
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise StateDataError(f"The SecondsPath '{path.text}' must be a non-negative number")
        return float(value)
    stamp = rfc3339(value)
    if stamp is None:
        raise StateDataError(
            f"The TimestampPath '{path.text}' does not hold an RFC 3339 timestamp with a zone: "
            f"{json.dumps(value)}"
        )
    return stamp
