"""ECS task scale-in protection: on while the worker has tasks in flight, off when idle.

The ECS agent's endpoint (``$ECS_AGENT_URI/task-protection/v1/state``) keeps service
auto scaling and deployments from stopping a busy task. Protection is asked for as soon as the
first task arrives, not at the next periodic check: a deployment or scale-in stops every
unprotected task at once, and a task that arrived a moment earlier would be drained with it.
Failures are logged and counted, never fatal: draining still handles the stops protection
cannot prevent (Spot, StopTask).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp
import anyio

from fleet._logging import get_logger
from fleet._metrics import Metrics

_log = get_logger("protection")


class TaskProtection:
    """Keeps the task's scale-in protection in line with whether it is busy.

    ``busy`` says whether tasks are in flight; ``changes`` returns the event set at the next
    change of that (the supervisor's), which wakes the watch between its periodic checks.
    """

    def __init__(
        self,
        agent_uri: str,
        *,
        busy: Callable[[], bool],
        changes: Callable[[], anyio.Event],
        metrics: Metrics,
        expires_minutes: int = 60,
        idle_grace_seconds: float = 10.0,
        check_seconds: float = 0.5,
    ) -> None:
        self.url = agent_uri.rstrip("/") + "/task-protection/v1/state"
        self.enabled = False
        self._busy = busy
        self._changes = changes
        self._metrics = metrics
        self._expires_minutes = expires_minutes
        self._idle_grace = idle_grace_seconds
        self._check = check_seconds
        self._renew_at = 0.0
        self._idle_since: float | None = None
        self._retry_at = 0.0

    async def run(self) -> None:
        """Watch the worker until cancelled, then clear protection on the way out."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            try:
                while True:
                    # Taken before the step, so that a change during its request wakes the
                    # next one rather than waiting for the periodic check.
                    change = self._changes()
                    await self._step(session)
                    with anyio.move_on_after(self._check):
                        await change.wait()
            finally:
                if self.enabled:
                    with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                        await self._set(session, False)

    async def _step(self, session: aiohttp.ClientSession) -> None:
        now = anyio.current_time()
        if now < self._retry_at:
            return
        if self._busy():
            self._idle_since = None
            if (not self.enabled or now >= self._renew_at) and await self._set(session, True):
                # Renew at half the expiry so a long task never runs unprotected.
                self._renew_at = now + self._expires_minutes * 30
            return
        if self.enabled:
            self._idle_since = self._idle_since or now
            # A short grace keeps protection from flapping between back-to-back tasks.
            if now - self._idle_since >= self._idle_grace:
                await self._set(session, False)

    async def _set(self, session: aiohttp.ClientSession, enabled: bool) -> bool:
        body: dict[str, object] = {"ProtectionEnabled": enabled}
        if enabled:
            body["ExpiresInMinutes"] = self._expires_minutes
        started = time.perf_counter()
        outcome = "ok"
        try:
            async with session.put(self.url, json=body) as response:
                if response.status >= 400:
                    outcome = "server_error" if response.status >= 500 else "client_error"
                    text = (await response.text())[:200]
                    raise RuntimeError(f"HTTP {response.status}: {text}")
            self.enabled = enabled
            _log.info(
                "task protection %s",
                "on" if enabled else "off",
                extra={"expires_minutes": self._expires_minutes if enabled else 0},
            )
            return True
        except (aiohttp.ClientError, TimeoutError, RuntimeError) as exc:
            if outcome == "ok":
                outcome = "network_error"
            self._retry_at = anyio.current_time() + min(5.0, self._idle_grace)
            _log.warning(
                "could not set task protection; will retry",
                extra={"enabled": enabled, "error": str(exc)},
            )
            return False
        finally:
            self._metrics.api_requests.labels(operation="TaskProtection", outcome=outcome).inc()
            self._metrics.api_duration.labels(operation="TaskProtection").observe(
                time.perf_counter() - started
            )
