"""Calls to the Step Functions API: one attempt at a time, classified and measured.

botocore's own retries are off for every call. Retrying a long poll would open a second poll
while the service may still hand a task to the first, and the task would be lost; for the
other calls the worker retries itself, so every attempt is counted in the metrics.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any, Literal

import aiohttp
import anyio
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)

from fleet._budget import Budget
from fleet._errors import ConfigurationError
from fleet._metrics import Metrics
from fleet._wire import OPERATIONS, TaskCalls, WireError

Outcome = Literal["ok", "throttled", "client_error", "server_error", "network_error"]

THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
    }
)
#: Codes that mean the task is gone: the execution stopped, timed out or the token is not valid.
TASK_GONE_CODES = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})

#: The calls that go through aioboto3 (start-up only; the per-task ones go over the wire).
_METHODS = {
    "DescribeActivity": "describe_activity",
    "ListActivities": "list_activities",
}


class ApiError(Exception):
    """One failed attempt at an API call, with how it failed."""

    def __init__(
        self,
        operation: str,
        outcome: Outcome,
        code: str,
        message: str,
        *,
        maybe_applied: bool | None = None,
    ) -> None:
        super().__init__(f"{operation} failed ({outcome}, {code}): {message}")
        self.operation = operation
        self.attempts = 1
        self.outcome = outcome
        self.code = code
        self.message = message
        #: Whether the service may have acted on this attempt although its answer was lost:
        #: not when it refused the call, nor when no connection was made.
        self.maybe_applied = (
            outcome in ("server_error", "network_error") if maybe_applied is None else maybe_applied
        )
        #: Whether an earlier attempt of the same call may have been acted on (set by retries).
        self.earlier_maybe_applied = False

    @property
    def retryable(self) -> bool:
        """True for throttling, 5xx and network errors: the same call may succeed later."""
        return self.outcome in ("throttled", "server_error", "network_error")

    @property
    def task_gone(self) -> bool:
        """True when the service says the task is closed or unknown: nobody wants a result."""
        return self.code in TASK_GONE_CODES


def backoff(attempt: int, *, base: float = 0.1, cap: float = 5.0) -> float:
    """Delay before retry number ``attempt`` (0-based): exponential with full jitter."""
    return random.uniform(0, min(cap, base * 2**attempt))


def classify(exc: BaseException) -> tuple[Outcome, str, str]:
    """How an exception from botocore or the HTTP layer failed: outcome, code and message."""
    if isinstance(exc, WireError | ClientError):
        if isinstance(exc, WireError):
            code, message, status = exc.code, exc.message, exc.status
        else:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "Unknown"))
            message = str(error.get("Message", exc))
            metadata = exc.response.get("ResponseMetadata", {})
            status = int(metadata.get("HTTPStatusCode", 400) or 400)
        if code in THROTTLING_CODES or status == 429:
            return "throttled", code, message
        if status >= 500:
            return "server_error", code, message
        return "client_error", code, message
    return "network_error", type(exc).__name__, str(exc) or type(exc).__name__


class Api:
    """The Step Functions calls the worker makes.

    The per-task calls go over ``task_calls`` (see ``fleet._wire``); the start-up calls over
    the aiobotocore ``client``.
    """

    def __init__(
        self,
        client: Any,
        metrics: Metrics,
        *,
        task_calls: TaskCalls,
        call_timeout: float = 15.0,
        budget: Budget | None = None,
    ) -> None:
        self._client = client
        #: This process's share of the account's API buckets (``FLEET_API_RATE``).
        self.budget = budget or Budget(None)
        self._task_calls = task_calls
        self._metrics = metrics
        self._call_timeout = call_timeout

    async def call(
        self,
        operation: str,
        *,
        timeout: float | None = None,
        permitted: bool = False,
        **params: Any,
    ) -> Any:
        """Make one attempt at ``operation``; return the response or raise ApiError.

        ``timeout`` bounds the attempt (default ``call_timeout``); running out of it counts as
        a network error. The attempt first waits for the budget's permit, within ``timeout``,
        unless the caller took it already (``permitted``); a budget that stays empty fails the
        attempt as throttled without a request. Raises ConfigurationError when there are no
        credentials.
        """
        limit = self._call_timeout if timeout is None else timeout
        if not permitted and not await self.budget.acquire(operation, anyio.current_time() + limit):
            raise ApiError(
                operation, "throttled", "BudgetExhausted",
                "this process's FLEET_API_RATE share had no permit within the call's time",
                maybe_applied=False,
            )  # fmt: skip
        started = time.perf_counter()
        outcome: Outcome = "ok"
        try:
            response: Mapping[str, Any]
            if operation in OPERATIONS:
                # aiohttp's total timeout bounds the attempt; a second deadline would only
                # cost a cancel scope per call on the hottest path.
                response = await self._task_calls.call(operation, params, limit)
            else:
                with anyio.fail_after(limit):
                    response = await getattr(self._client, _METHODS[operation])(**params)
            return response
        except NoCredentialsError as exc:
            outcome = "client_error"
            raise ConfigurationError(f"no AWS credentials found: {exc}") from None
        except (WireError, ClientError, BotoCoreError, OSError, TimeoutError) as exc:
            outcome, code, message = classify(exc)
            # No connection was made: the request cannot have reached the service.
            unsent = isinstance(exc, aiohttp.ClientConnectorError | EndpointConnectionError)
            raise ApiError(
                operation, outcome, code, message, maybe_applied=False if unsent else None
            ) from exc
        except Exception as exc:
            # aiohttp's own exceptions can surface through aiobotocore as network failures.
            if type(exc).__module__.startswith("aiohttp"):
                outcome, code, message = classify(exc)
                raise ApiError(operation, outcome, code, message) from exc
            raise
        finally:
            metrics = self._metrics
            metrics.child(metrics.api_requests, operation, outcome).inc()
            metrics.child(metrics.api_duration, operation).observe(time.perf_counter() - started)

    async def call_with_retries(self, operation: str, *, deadline: float, **params: Any) -> Any:
        """Call ``operation``, retrying retryable failures with backoff until ``deadline``.

        ``deadline`` is on the ``anyio.current_time()`` clock. Raises the last ApiError when
        the call fails for good or the deadline leaves no room for another attempt.
        """
        attempt = 0
        maybe_applied = False
        while True:
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                raise ApiError(operation, "network_error", "DeadlineExceeded", "no time left")
            try:
                return await self.call(
                    operation, timeout=min(self._call_timeout, remaining), **params
                )
            except ApiError as exc:
                delay = backoff(attempt)
                attempt += 1
                exc.attempts = attempt
                exc.earlier_maybe_applied = maybe_applied
                maybe_applied = maybe_applied or exc.maybe_applied
                if not exc.retryable or anyio.current_time() + delay >= deadline:
                    raise
                await anyio.sleep(delay)
