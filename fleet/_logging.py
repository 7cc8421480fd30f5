"""Structured logs: one JSON object a line by default, a readable line with ``console``.

A task's lines carry ``activity`` and ``token`` (a short hash of the task token, never the
token itself: a token is a bearer credential for the task's result).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from collections.abc import MutableMapping
from typing import Any, Literal

LOGGER_NAME = "fleet"

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is a field.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}


def token_hash(token: str) -> str:
    """A short, stable, non-reversible name for a task token, safe for logs and labels."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


class TaskLog(logging.LoggerAdapter[logging.Logger]):
    """A logger for one task: its fields (``activity``, ``token``, ...) on every line.

    Unlike ``logging.LoggerAdapter``, which replaces a call's ``extra=`` with its own, this
    merges the two, so that a line keeps both the task's fields and its own.
    """

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        """Merge the task's fields under the call's ``extra=`` (the call's win)."""
        kwargs["extra"] = {**(self.extra or {}), **(kwargs.get("extra") or {})}
        return msg, kwargs


def get_logger(name: str = "") -> logging.Logger:
    """The logger of the runtime, or of one of its parts."""
    return logging.getLogger(f"{LOGGER_NAME}.{name}" if name else LOGGER_NAME)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items() if key not in _STANDARD}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, then the fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_fields(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """Formats a record as ``HH:MM:SS level message key=value ...`` for people."""

    def format(self, record: logging.LogRecord) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        extras = " ".join(f"{key}={value}" for key, value in _fields(record).items())
        line = f"{clock} {record.levelname:<7} {record.getMessage()}"
        if extras:
            line = f"{line}  {extras}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


def _iso(created: float) -> str:
    millis = int(created * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{millis:03d}Z"


def configure_logging(level: str, fmt: Literal["json", "console"]) -> None:
    """Send the runtime's logs to stderr in the chosen format; idempotent."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        if getattr(handler, "_fleet", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    handler._fleet = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
