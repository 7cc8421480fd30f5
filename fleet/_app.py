"""The user's application: a ``Fleet`` with its activities and their handlers."""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

from fleet._arn import ACTIVITY_ARN, FORBIDDEN_IN_NAMES, MAX_NAME_CHARS, valid_name
from fleet._ratelimit import RateLimit
from fleet._settings import MIN_HEARTBEAT_SECONDS
from fleet._task import Task
from fleet._typed import wrap

Handler = Callable[[Task], Any] | Callable[[Task], Awaitable[Any]]
H = TypeVar("H", bound=Callable[..., Any])
#: A lifespan: given the app, an async generator that yields once (or a function returning an
#: async context manager). What it yields is ``task.state`` in every handler.
Lifespan = (
    Callable[["Fleet"], AsyncIterator[Any]] | Callable[["Fleet"], AbstractAsyncContextManager[Any]]
)
L = TypeVar("L", bound=Lifespan)


@dataclass(frozen=True)
class Activity:
    """One activity the fleet works on, and how."""

    name: str
    arn: str | None
    handler: Handler
    is_async: bool
    concurrency: int | None
    heartbeat_seconds: float | None
    timeout_seconds: float | None
    rate_limit: RateLimit | None = None


class Fleet:
    """An application: the activities a worker process polls and the handlers that run them.

    >>> app = Fleet()
    >>> @app.activity("HelloWorldActivity", concurrency=8, heartbeat_seconds=20)
    ... async def hello(task):
    ...     return {"greeting": "Hello"}

    Resources the handlers share (an HTTP session, a database pool) come from a lifespan,
    started before the first poll and closed after the last task is reported:

    >>> @app.lifespan
    ... async def resources(app):
    ...     yield {"greeting": "Hello"}  # open clients here; close them after the yield
    """

    def __init__(self, *, lifespan: Lifespan | None = None) -> None:
        self._activities: dict[str, Activity] = {}
        self._lifespan: Lifespan | None = lifespan

    def lifespan(self, function: L) -> L:
        """Register ``function`` as the app's lifespan (a decorator); returns it unchanged.

        ``function(app)`` is an async generator that sets resources up, yields what handlers
        reach as ``task.state``, and tears them down after the yield; or it returns an async
        context manager that does the same. Raises ValueError if the app has one already.
        """
        if self._lifespan is not None:
            raise ValueError("the app has a lifespan already")
        if not callable(function):
            raise TypeError("the lifespan must be callable")
        self._lifespan = function
        return function

    def lifespan_context(self) -> AbstractAsyncContextManager[Any]:
        """The app's lifespan as an async context manager (yielding None without one)."""
        if self._lifespan is None:
            return contextlib.nullcontext()
        if inspect.isasyncgenfunction(self._lifespan):
            return contextlib.asynccontextmanager(self._lifespan)(self)
        made = self._lifespan(self)
        if not isinstance(made, AbstractAsyncContextManager):
            raise TypeError(
                "the lifespan must be an async generator function or return an async context "
                f"manager, not {type(made).__name__}"
            )
        return made

    @property
    def activities(self) -> tuple[Activity, ...]:
        """The registered activities, in registration order."""
        return tuple(self._activities.values())

    def activity(
        self,
        name_or_arn: str,
        *,
        concurrency: int | None = None,
        heartbeat_seconds: float | None = None,
        timeout_seconds: float | None = None,
        rate_limit: str | None = None,
    ) -> Callable[[H], H]:
        """Register the decorated function as the handler of an activity.

        ``name_or_arn`` is the activity's name (its ARN is built from the region and account)
        or its full ARN. ``concurrency`` caps this activity's tasks in flight (default: the
        process-wide ``FLEET_CONCURRENCY``). ``heartbeat_seconds`` is the Task state's
        HeartbeatSeconds: heartbeats go out at about 0.8x of it. ``timeout_seconds`` bounds
        the handler; past it the task fails with ``Fleet.Timeout``. ``rate_limit`` such as
        ``"30/m"`` caps how many tasks start per second, minute or hour, for handlers that
        call a rate-limited API. A handler may take its input as a pydantic model (see
        ``fleet._typed``); the input is then validated before it runs.

        Raises ValueError for a bad name, ARN, number or rate limit, or an activity registered
        twice; the decorator raises TypeError for a handler whose parameters mix a model with
        ones the runtime cannot fill.
        """
        arn_match = ACTIVITY_ARN.fullmatch(name_or_arn)
        name = arn_match.group("name") if arn_match else name_or_arn
        if name_or_arn.startswith("arn:") and not arn_match:
            raise ValueError(f"not an activity ARN: {name_or_arn!r}")
        if not valid_name(name):
            raise ValueError(
                f"invalid activity name {name!r}: 1-{MAX_NAME_CHARS} characters, no whitespace "
                f"and none of {FORBIDDEN_IN_NAMES}"
            )
        if name in self._activities:
            raise ValueError(f"activity {name!r} is registered twice")
        _check_positive("concurrency", concurrency, integer=True)
        _check_positive("heartbeat_seconds", heartbeat_seconds)
        if heartbeat_seconds is not None and heartbeat_seconds < MIN_HEARTBEAT_SECONDS:
            raise ValueError(
                f"heartbeat_seconds must be at least {MIN_HEARTBEAT_SECONDS:g} (Step Functions "
                f"counts HeartbeatSeconds in whole seconds), got {heartbeat_seconds!r}"
            )
        _check_positive("timeout_seconds", timeout_seconds)
        limit = RateLimit.parse(rate_limit) if rate_limit is not None else None

        def register(handler: H) -> H:
            if not callable(handler):
                raise TypeError(f"the handler of {name!r} is not callable")
            self._activities[name] = Activity(
                name=name,
                arn=name_or_arn if arn_match else None,
                handler=wrap(handler),
                is_async=inspect.iscoroutinefunction(handler),
                concurrency=concurrency,
                heartbeat_seconds=heartbeat_seconds,
                timeout_seconds=timeout_seconds,
                rate_limit=limit,
            )
            return handler

        return register


def _check_positive(what: str, value: float | None, *, integer: bool = False) -> None:
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value < math.inf  # also refuses nan
    ):
        raise ValueError(f"{what} must be a positive, finite number, got {value!r}")
    if integer and not isinstance(value, int):
        raise ValueError(f"{what} must be a whole number, got {value!r}")
