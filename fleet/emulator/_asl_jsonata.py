"""Fields of states written in JSONata (`QueryLanguage: "JSONata"`).

Arguments, Output, Assign, Items, ItemSelector, Choice conditions, and expressions in Wait and
Fail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fleet.emulator._asl_fields import Problems
from fleet.emulator._jsonata import Expression, JsonataSyntaxError, JsonataTemplate, is_expression

if TYPE_CHECKING:
    from fleet.emulator._asl_states import State

#: Fields of JSONPath states that a JSONata state does not have.
JSONPATH_ONLY = frozenset(
    {
        "InputPath",
        "OutputPath",
        "ResultPath",
        "Parameters",
        "ResultSelector",
        "Result",
        "ItemsPath",
        "SecondsPath",
        "TimestampPath",
        "ErrorPath",
        "CausePath",
        "TimeoutSecondsPath",
        "HeartbeatSecondsPath",
        "MaxConcurrencyPath",
        "ToleratedFailureCountPath",
        "ToleratedFailurePercentagePath",
        "Iterator",
    }
)
#: Fields only a JSONata state has, by state type.
JSONATA_ONLY = {
    "Task": ("Arguments", "Output"),
    "Parallel": ("Arguments", "Output"),
    "Map": ("Items", "Output"),
    "Pass": ("Output",),
    "Wait": ("Output",),
    "Choice": ("Output",),
    "Succeed": ("Output",),
    "Fail": (),
}


def template(
    body: dict[str, Any], key: str, where: str, problems: Problems
) -> JsonataTemplate | None:
    """The compiled JSONata template at `body[key]`, if present and valid."""
    if key not in body:
        return None
    try:
        return JsonataTemplate(body[key])
    except JsonataSyntaxError as exc:
        problems.add(f"{where}/{key}", str(exc))
        return None


def expression(value: Any, where: str, problems: Problems) -> Expression | None:
    """A compiled `{% %}` expression, or None (with a problem) if `value` is not a valid one."""
    if not is_expression(value):
        return None
    try:
        return Expression(value)
    except JsonataSyntaxError as exc:
        problems.add(where, str(exc))
        return None


def parse_common(state: State, body: dict[str, Any], where: str, problems: Problems) -> None:
    """Arguments, Output, Assign, Items and ItemSelector of a JSONata state."""
    state.arguments = template(body, "Arguments", where, problems)
    state.output = template(body, "Output", where, problems)
    if state.type not in ("Succeed", "Fail"):
        state.assign = template(body, "Assign", where, problems)
    if state.type == "Map":
        state.items = template(body, "Items", where, problems)
        state.item_selector = template(body, "ItemSelector", where, problems)


def parse_wait(state: State, body: dict[str, Any], where: str, problems: Problems) -> bool:
    """Seconds or Timestamp given as an expression; False when the value is a plain one."""
    for key in ("Seconds", "Timestamp"):
        if key in body and is_expression(body[key]):
            state.wait_field = key
            state.wait_value = expression(body[key], f"{where}/{key}", problems)
            return True
    return False


def parse_fail(state: State, body: dict[str, Any], where: str, problems: Problems) -> None:
    """Error and Cause, each a string or an expression."""
    for key in ("Error", "Cause"):
        if key in body and not isinstance(body[key], str):
            problems.add(f"{where}/{key}", "The value must be a string")
    fields = {key: body[key] for key in ("Error", "Cause") if key in body}
    state.fail_template = template({"Fail": fields}, "Fail", where, problems)


def parse_choice(state: State, body: dict[str, Any], where: str, problems: Problems) -> None:
    """Choice rules of `{"Condition": "{% %}", "Next", "Assign", "Output"}`."""
    rules = body.get("Choices")
    if not isinstance(rules, list) or not rules:
        problems.add(where, "These fields are required: [Choices] (a non-empty array)")
        return
    choices = []
    for index, rule in enumerate(rules):
        at = f"{where}/Choices/{index}"
        if not isinstance(rule, dict):
            problems.add(at, "A choice rule must be a JSON object")
            continue
        for key in rule:
            if key not in ("Condition", "Next", "Assign", "Output", "Comment"):
                problems.add(at, f"The field '{key}' is not supported in a JSONata choice rule")
        condition = expression(rule.get("Condition"), f"{at}/Condition", problems)
        if condition is None:
            problems.add(at, "These fields are required: [Condition] (a {% %} expression)")
            continue
        if not isinstance(rule.get("Next"), str):
            problems.add(at, "These fields are required: [Next]")
            continue

        def predicate(states: Any, env: Any, condition: Expression = condition) -> bool:
            return condition.evaluate(states, env) is True

        choices.append(
            (
                predicate,
                rule["Next"],
                template(rule, "Assign", at, problems),
                template(rule, "Output", at, problems),
            )
        )
    state.choices = tuple(choices)
    default = body.get("Default")
    state.default = default if isinstance(default, str) else None
