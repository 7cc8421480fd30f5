"""Retry and Catch fields of a state: parsed and validated into Retrier and Catcher records."""

from __future__ import annotations

from typing import Any

from fleet.emulator._asl_fields import ROOT, Problems, path_field, seconds_field, template_field
from fleet.emulator._asl_jsonata import template
from fleet.emulator._retry import ALL, Catcher, Retrier

__all__ = ["catchers", "retriers"]


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


def retriers(raw: Any, where: str, problems: Problems) -> list[Retrier]:
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


def catchers(raw: Any, where: str, problems: Problems, jsonata: bool = False) -> list[Catcher]:
    """The entries of `Catch`; a JSONata state's catchers have Output instead of ResultPath."""
    out, entries = [], _entries(raw, where, problems)
    fields = ("ErrorEquals", "Next", "Comment", "Assign", "Output" if jsonata else "ResultPath")
    for index, entry in entries:
        at = f"{where}/{index}"
        for key in entry:
            if key not in fields:
                problems.add(at, f"The field '{key}' is not supported by Step Functions")
        names = _error_names(
            entry.get("ErrorEquals"), f"{at}/ErrorEquals", index == len(raw) - 1, problems
        )
        nxt = entry.get("Next")
        if not isinstance(nxt, str):
            problems.add(at, "These fields are required: [Next]")
            continue
        if jsonata:
            catcher = Catcher(
                names,
                nxt,
                ROOT,
                template(entry, "Assign", at, problems),
                template(entry, "Output", at, problems),
            )
        else:
            catcher = Catcher(
                names,
                nxt,
                path_field(entry, "ResultPath", at, problems, ROOT, reference=True),
                template_field(entry, "Assign", at, problems),
            )
        out.append(catcher)
    return out
