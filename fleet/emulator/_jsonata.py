"""JSONata templates: JSON values whose strings may be `{% expression %}`.

Expressions are compiled once, when the definition is validated, by the maintained pure
Python implementation of JSONata (`jsonata-python`); running a state evaluates them with
`$states` (input, result, errorOutput, context) and the workflow variables bound.
"""

from __future__ import annotations

import re
from typing import Any

import jsonata

from fleet.emulator._jsonpath import Env, StateDataError

QUERY_ERROR = "States.QueryEvaluationError"
_EXPRESSION = re.compile(r"\{%(.*)%\}", re.DOTALL)


class QueryEvaluationError(StateDataError):
    """A JSONata expression failed at run time."""

    error = QUERY_ERROR


class JsonataSyntaxError(ValueError):
    """A `{% %}` expression that does not parse; the message says where and why."""


def is_expression(value: Any) -> bool:
    """Whether `value` is a `{% ... %}` string."""
    return isinstance(value, str) and _EXPRESSION.fullmatch(value.strip()) is not None


class Expression:
    """One compiled `{% ... %}` expression."""

    __slots__ = ("_compiled", "text")

    def __init__(self, text: str) -> None:
        match = _EXPRESSION.fullmatch(text.strip())
        assert match is not None
        self.text = text
        try:
            self._compiled = jsonata.Jsonata(match.group(1).strip())
        except Exception as exc:  # the library raises its own JException (a RuntimeError)
            raise JsonataSyntaxError(f"Invalid JSONata expression {text!r}: {exc}") from None

    def evaluate(self, states: dict[str, Any], env: Env) -> Any:
        """The value of the expression. Raises QueryEvaluationError."""
        bindings = {**env.variables, "states": states}
        try:
            return self._compiled.evaluate(None, bindings)
        except Exception as exc:  # any failure inside the library is the state's error
            raise QueryEvaluationError(
                f"The JSONata expression {self.text!r} failed: {exc}"
            ) from None


class JsonataTemplate:
    """A JSON value with expressions anywhere in it (Arguments, Output, Assign, Items...)."""

    __slots__ = ("_node",)

    def __init__(self, raw: Any) -> None:
        self._node = _compile(raw)

    def render(self, states: dict[str, Any], env: Env) -> Any:
        """The value with every expression evaluated. Raises QueryEvaluationError."""
        return _render(self._node, states, env)


def _compile(raw: Any) -> Any:
    if isinstance(raw, dict):
        return {key: _compile(value) for key, value in raw.items()}
    if isinstance(raw, list):
        return [_compile(item) for item in raw]
    if is_expression(raw):
        return Expression(raw)
    return raw


def _render(node: Any, states: dict[str, Any], env: Env) -> Any:
    if isinstance(node, Expression):
        return node.evaluate(states, env)
    if isinstance(node, dict):
        return {key: _render(value, states, env) for key, value in node.items()}
    if isinstance(node, list):
        return [_render(item, states, env) for item in node]
    return node
