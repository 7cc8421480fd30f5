"""Schedule expressions and time zones, checked as EventBridge Scheduler reads them.

A wrong expression or zone is found by ``plan``, naming the field, instead of by AWS after
half the stack is applied.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime

# zoneinfo reads the OS time zone database and falls back to this package's copy; importing
# it makes a missing install fail here, not as "every zone is unknown".
import tzdata  # type: ignore[import-untyped]  # noqa: F401

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")

# field name, lowest, highest, names (1-based), special forms the field accepts
_FIELDS: tuple[tuple[str, int, int, tuple[str, ...], str], ...] = (
    ("minutes", 0, 59, (), ""),
    ("hours", 0, 23, (), ""),
    ("day-of-month", 1, 31, (), "?LW"),
    ("month", 1, 12, _MONTHS, ""),
    ("day-of-week", 1, 7, _DAYS, "?L#"),
    ("year", 1970, 2199, (), ""),
)
_DAY_OF_MONTH_SPECIAL = re.compile(r"^(L|LW|L-\d{1,2}|\d{1,2}W)$")
_DAY_OF_WEEK_SPECIAL = re.compile(r"^([1-7]|[A-Z]{3})(L|#[1-5])$")


def _value(token: str, low: int, high: int, names: tuple[str, ...]) -> int | None:
    if token.upper() in names:
        return names.index(token.upper()) + 1
    if token.isdigit() and low <= int(token) <= high:
        return int(token)
    return None


def cron_field_problem(index: int, text: str) -> str | None:
    """What is wrong with field ``index`` (0-5) of a cron expression, or None.

    >>> cron_field_problem(1, "25")
    'cron hours: 25 is not in 0-23'
    >>> cron_field_problem(4, "MON-FRI") is None
    True
    """
    name, low, high, names, special = _FIELDS[index]
    if text == "?" and "?" in special:
        return None
    for item in text.split(","):
        if "L" in special and index == 2 and _DAY_OF_MONTH_SPECIAL.match(item.upper()):
            continue
        if index == 4 and _DAY_OF_WEEK_SPECIAL.match(item.upper()):
            continue
        base, _, step = item.partition("/")
        if step and not (step.isdigit() and int(step) >= 1):
            return f"cron {name}: step {step!r} must be a positive number"
        if base == "*":
            continue
        for bound in base.split("-", 1):
            if _value(bound, low, high, names) is None:
                allowed = f"{low}-{high}" + (f" or {names[0]}-{names[-1]}" if names else "")
                return f"cron {name}: {bound or item} is not in {allowed}"
    return None


def expression_problem(expression: str) -> str | None:
    """What is wrong with the fields of a ``cron(...)`` or the time of an ``at(...)``, or None.

    >>> expression_problem("at(2026-02-30T10:00:00)")
    'at(): 2026-02-30T10:00:00 is not a date and time (day is out of range for month)'
    >>> expression_problem("cron(0 9 ? * MON-FRI *)") is None
    True
    """
    if expression.startswith("at(") and expression.endswith(")"):
        moment = expression[3:-1]
        try:
            datetime.fromisoformat(moment)
        except ValueError as exc:
            return f"at(): {moment} is not a date and time ({exc})"
        return None
    if expression.startswith("cron(") and expression.endswith(")"):
        for index, text in enumerate(expression[5:-1].split()):
            problem = cron_field_problem(index, text)
            if problem:
                return problem
    return None


def timezone_problem(name: str) -> str | None:
    """What is wrong with an IANA time zone name, or None.

    >>> timezone_problem("Europe/Paris") is None
    True
    >>> timezone_problem("Europe/Pariss")
    "'Europe/Pariss' is not an IANA time zone such as 'Europe/Paris' or 'America/New_York'"
    """
    if name in ("UTC", "Etc/UTC"):
        return None
    if name in zoneinfo.available_timezones():
        return None
    return f"{name!r} is not an IANA time zone such as 'Europe/Paris' or 'America/New_York'"
