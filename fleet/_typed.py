"""Typed handlers: a pydantic model as the handler's input, and models returned as JSON.

A handler may take the task's input as a model instead of (or besides) the ``Task``::

    async def charge(order: Order) -> Receipt: ...
    async def charge(task: Task, order: Order) -> Receipt: ...

The input is validated before the handler runs; invalid input fails the task with
``Fleet.InvalidInput`` and pydantic's message as the cause. A model returned is sent as its
JSON form (annotate the return type). The wrapping happens once, when the handler is
registered.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

import pydantic

from fleet import _errors
from fleet._errors import TaskFailure
from fleet._task import Task

#: Set on a wrapper so that wrapping twice is harmless.
_WRAPPED = "__fleet_typed__"


def _model_of(annotation: Any) -> type[pydantic.BaseModel] | None:
    if inspect.isclass(annotation) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    return None


def _plan(handler: Callable[..., Any]) -> tuple[list[str], type[pydantic.BaseModel]] | None:
    """Which parameters get the Task and which the model, or None for a plain handler.

    Raises TypeError for a signature the runtime cannot call.
    """
    try:
        hints = typing.get_type_hints(handler)
    except Exception:  # unresolvable annotations: treat the handler as a plain one
        return None
    params = list(inspect.signature(handler).parameters.values())
    models = [p for p in params if _model_of(hints.get(p.name)) is not None]
    if not models:
        return None
    if len(models) > 1:
        raise TypeError(f"handler {handler.__qualname__} takes more than one model parameter")
    roles = []
    for p in params:
        if p is models[0]:
            roles.append("model")
        elif hints.get(p.name) is Task or len(params) == 2:
            roles.append("task")
        else:
            raise TypeError(
                f"handler {handler.__qualname__}: parameter {p.name!r} is neither the Task "
                "nor the input model"
            )
    model = _model_of(hints[models[0].name])
    assert model is not None
    return roles, model


def _mentions_model(annotation: Any) -> bool:
    """True for a model, or a type built of one: ``list[Receipt]``, ``Receipt | None``..."""
    if _model_of(annotation) is not None:
        return True
    return any(_mentions_model(arg) for arg in typing.get_args(annotation))


def _returns_model(handler: Callable[..., Any]) -> bool:
    try:
        hints = typing.get_type_hints(handler)
    except Exception:
        return False
    return _mentions_model(hints.get("return"))


def validate(model: type[pydantic.BaseModel], value: Any) -> pydantic.BaseModel:
    """``value`` as ``model``; raises TaskFailure(Fleet.InvalidInput, message) when invalid."""
    try:
        return model.model_validate(value)
    except pydantic.ValidationError as exc:
        raise TaskFailure(_errors.INVALID_INPUT, str(exc)) from None


def to_json_value(value: Any) -> Any:
    """A handler's return value with its pydantic models, also in lists and dicts, as JSON."""
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [to_json_value(item) for item in value]
    if isinstance(value, dict):
        return {key: to_json_value(item) for key, item in value.items()}
    return value


def wrap(handler: Callable[..., Any]) -> Callable[[Task], Any]:
    """The handler as the runtime calls it: with the Task alone, models validated and dumped.

    A handler with no model among its parameters and return annotation is returned
    unchanged; one that only returns a model has only its return value converted. Raises
    TypeError for a signature that mixes a model with parameters the runtime cannot fill.
    """
    if getattr(handler, _WRAPPED, False):
        return handler
    plan = _plan(handler)
    if plan is None and not _returns_model(handler):
        return handler  # a plain handler: nothing to validate or convert, no extra frame
    if plan is None:
        call: Callable[[Task], Any] = handler
    else:
        roles, model = plan

        def call(task: Task) -> Any:
            typed = validate(model, task.input)
            return handler(*(typed if role == "model" else task for role in roles))

    if inspect.iscoroutinefunction(handler):

        @functools.wraps(handler)
        async def run_async(task: Task) -> Any:
            return to_json_value(await call(task))

        setattr(run_async, _WRAPPED, True)
        return run_async

    @functools.wraps(handler)
    def run_sync(task: Task) -> Any:
        return to_json_value(call(task))

    setattr(run_sync, _WRAPPED, True)
    return run_sync
