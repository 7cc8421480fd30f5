"""Input and output processing of a state: InputPath, payload templates, ResultPath, OutputPath."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fleet.emulator._jsonpath import Path, PathNotFound, PathSyntaxError, compile_path

MAX_SECONDS = 99999999
"""The largest value of any seconds field of the States Language (its default timeouts)."""


class StateDataError(Exception):
    """Input or output processing failed at run time; the message is the States.Runtime cause."""


class Template:
    """A compiled payload template."""

    __slots__ = ("_node", "uses_context")

    def __init__(self, raw: Any) -> None:
        self.uses_context = False
        self._node = self._compile(raw)

    def _compile(self, raw: Any) -> Any:
        if isinstance(raw, dict):
            fields: list[tuple[str, Any, str | None]] = []
            for key, value in raw.items():
                if key.endswith(".$"):
                    if not isinstance(value, str):
                        raise PathSyntaxError(f"The value for the field '{key}' must be a STRING")
                    if value.startswith("States."):
                        function = value.split("(", 1)[0]
                        raise PathSyntaxError(f"Unsupported intrinsic function '{function}'")
                    path = compile_path(value)
                    self.uses_context |= path.context
                    fields.append((key[:-2], path, key))
                else:
                    fields.append((key, self._compile(value), None))
            return fields
        if isinstance(raw, list):
            return ("list", [self._compile(item) for item in raw])
        return ("value", raw)

    def render(self, data: Any, context: Callable[[], Any]) -> Any:
        """Build the payload from the effective input `data` and the context object.

        Raises StateDataError, worded as AWS words it, when a path is missing from the input.
        """
        return self._render(self._node, data, context)

    def _render(self, node: Any, data: Any, context: Callable[[], Any]) -> Any:
        if isinstance(node, tuple):
            kind, inner = node
            if kind == "value":
                return inner
            return [self._render(item, data, context) for item in inner]
        out: dict[str, Any] = {}
        for name, value, key in node:
            if key is None:
                out[name] = self._render(value, data, context)
                continue
            source = context() if value.context else data
            try:
                out[name] = value.get(source)
            except PathNotFound:
                shown = json.dumps(source, separators=(",", ":"))
                raise StateDataError(
                    f"The JSONPath '{value.text}' specified for the field '{key}' could not be "
                    f"found in the input '{shown}'"
                ) from None
        return out


def select(path: Path | None, data: Any, context: Callable[[], Any]) -> Any:
    """InputPath/OutputPath: the value at `path`, `{}` for a null path.

    Raises StateDataError ("Invalid path ...") when the path does not exist.
    """
    if path is None:
        return {}
    if not path.steps and not path.context:
        return data
    try:
        return path.get(context() if path.context else data)
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
    return ("$$" if path.context else "$") + parts


def seconds_at(
    fixed: int | None, path: Path | None, data: Any, context: Callable[[], Any]
) -> int | None:
    """TimeoutSeconds/HeartbeatSeconds: the fixed value, or the positive integer at `path`."""
    if path is None:
        return fixed
    try:
        value = path.get(context() if path.context else data)
    except PathNotFound:
        raise StateDataError(f"Invalid path '{path.text}' : No results for path") from None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SECONDS:
        raise StateDataError(f"The value at '{path.text}' must be a positive integer")
    return value


def wait_target(path: Path, data: Any, field: str) -> float | datetime:
    """SecondsPath (seconds to wait) or TimestampPath (when to stop waiting) of a Wait state."""
    try:
        value = path.get(data)
    except PathNotFound:
        raise StateDataError(f"Invalid path '{path.text}' : No results for path") from None
    if field == "SecondsPath":
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise StateDataError(f"The SecondsPath '{path.text}' must be a non-negative number")
        return float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise StateDataError(f"The TimestampPath '{path.text}' is not a timestamp") from None
