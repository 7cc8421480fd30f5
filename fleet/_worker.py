"""Starting a worker: credentials, the client, activity ARNs, then the supervisor.

The supervisor runs beside its companions: the HTTP listener, signals, the loop-lag
monitor, task protection and the embedded metrics.
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import aioboto3
import anyio
from aiobotocore.config import AioConfig

from fleet._api import Api, ApiError
from fleet._app import Activity, Fleet
from fleet._arn import build as build_arn
from fleet._budget import Budget
from fleet._deployment import DeploymentWatch
from fleet._emf import publish
from fleet._errors import ConfigurationError
from fleet._exit import ExitWatchdog
from fleet._gc import Collector
from fleet._http import make_app, serve_http
from fleet._limits import READ_TIMEOUT_SECONDS
from fleet._linger import Scrapes, linger
from fleet._logging import get_logger
from fleet._loop import LagMonitor
from fleet._metrics import Metrics, Snapshot
from fleet._protection import TaskProtection
from fleet._settings import Settings
from fleet._supervisor import Supervisor
from fleet._wire import TaskCalls

_log = get_logger("worker")


def client_config(settings: Settings, activities: int) -> AioConfig:
    """The client configuration for the worker's calls.

    The read timeout is above the long poll, botocore's retries are off, and the connection
    pool has room for every poller plus reporting calls.
    """
    pollers = settings.max_pollers * max(activities, 1)
    reporting = min(settings.concurrency, 256) + 16
    return AioConfig(
        read_timeout=READ_TIMEOUT_SECONDS,
        connect_timeout=5,
        retries={"total_max_attempts": 1, "mode": "standard"},
        max_pool_connections=pollers + reporting,
        parameter_validation=False,
        tcp_keepalive=True,
    )


async def resolve_arns(
    api: Api, session: Any, settings: Settings, activities: tuple[Activity, ...]
) -> list[tuple[Activity, str]]:
    """Each activity with its ARN, checked to exist.

    Raises ConfigurationError naming the activity that does not exist.
    """
    assert settings.region is not None
    missing_arn = [a for a in activities if a.arn is None]
    arns: dict[str, str] = {a.name: a.arn for a in activities if a.arn is not None}
    prefix = settings.activity_prefix  # stacks sharing an account name their activities apart
    if missing_arn:
        if settings.endpoint_url:
            # A local endpoint has no STS; the activity list names the ARNs.
            listed = await _list_activities(api)
            for a in missing_arn:
                if prefix + a.name not in listed:
                    raise ConfigurationError(
                        f"activity {prefix + a.name!r} does not exist at {settings.endpoint_url} "
                        f"(region {settings.region}); create it first"
                    )
                arns[a.name] = listed[prefix + a.name]
        else:
            account = await _account_id(session, settings)
            for a in missing_arn:
                arns[a.name] = build_arn(settings.region, account, "activity", prefix + a.name)
    for a in activities:
        await _check_exists(api, a.name, arns[a.name])
    return [(a, arns[a.name]) for a in activities]


async def _list_activities(api: Api) -> dict[str, str]:
    found: dict[str, str] = {}
    token: str | None = None
    while True:
        params: dict[str, Any] = {"maxResults": 1000}
        if token:
            params["nextToken"] = token
        response = await _startup_call(api, "ListActivities", **params)
        for item in response.get("activities", []):
            found[item["name"]] = item["activityArn"]
        token = response.get("nextToken")
        if not token:
            return found


async def _account_id(session: Any, settings: Settings) -> str:
    try:
        async with session.client("sts", region_name=settings.region) as sts:
            identity = await sts.get_caller_identity()
    except Exception as exc:
        raise ConfigurationError(
            f"cannot look up the AWS account for activity ARNs ({exc}); "
            "name the activities by full ARN instead"
        ) from None
    return str(identity["Account"])


async def _check_exists(api: Api, name: str, arn: str) -> None:
    try:
        await _startup_call(api, "DescribeActivity", activityArn=arn)
    except ConfigurationError:
        raise
    except ApiError as exc:
        if exc.code in ("ActivityDoesNotExist", "InvalidArn"):
            raise ConfigurationError(f"activity {name!r} does not exist ({arn})") from None
        if exc.code in ("AccessDeniedException", "AccessDenied"):
            _log.warning(
                "not allowed to describe the activity; the first poll will tell",
                extra={"activity": name},
            )
            return
        raise


async def _startup_call(api: Api, operation: str, **params: Any) -> Any:
    """A start-up call: retried briefly on throttling and network errors, then given up."""
    try:
        return await api.call_with_retries(operation, deadline=anyio.current_time() + 20, **params)
    except ApiError as exc:
        if exc.code in (
            "UnrecognizedClientException",
            "InvalidSignatureException",
            "InvalidClientTokenId",
            "ExpiredTokenException",
        ):
            raise ConfigurationError(f"AWS rejected the credentials: {exc.message}") from None
        if exc.retryable:
            raise ConfigurationError(
                f"cannot reach Step Functions ({exc.code}: {exc.message})"
            ) from None
        raise


async def serve(
    app: Fleet,
    settings: Settings,
    *,
    metrics: Metrics | None = None,
    handle_signals: bool = False,
    on_started: Callable[[Supervisor, int], Awaitable[None] | None] | None = None,
    watchdog: ExitWatchdog | None = None,
) -> int:
    """Run ``app`` until it is stopped; return the exit status (0 when all was reported).

    ``on_started`` is called with the supervisor and the HTTP port once everything runs.
    ``watchdog`` is armed when a drain begins, to end the process when the budget is spent.
    Raises ConfigurationError for anything wrong at start-up (exit status 2 in the CLI).
    """
    if not app.activities:
        raise ConfigurationError(
            "the app has no activities: decorate a handler with @app.activity(...)"
        )
    if settings.region is None:
        raise ConfigurationError("no AWS region: set FLEET_REGION or AWS_REGION")
    metrics = metrics or Metrics()
    session = aioboto3.Session(region_name=settings.region)
    if await session.get_credentials() is None:
        raise ConfigurationError(
            "no AWS credentials found (environment, shared files, container or instance role)"
        )
    config = client_config(settings, len(app.activities))
    async with (
        session.client(
            "stepfunctions", endpoint_url=settings.endpoint_url, config=config
        ) as client,
        TaskCalls(
            client.meta.endpoint_url,
            settings.region,
            await session.get_credentials(),
            pool_size=config.max_pool_connections,
        ) as task_calls,
    ):
        api = Api(client, metrics, task_calls=task_calls, budget=Budget(settings.api_rate))
        resolved = await resolve_arns(api, session, settings, app.activities)
        sup = Supervisor(activities=resolved, settings=settings, api=api, metrics=metrics)
        if watchdog is not None:
            sup.on_drain = lambda end: watchdog.arm(
                end - anyio.current_time(), lambda: sup.abandoned + sup.threads.busy
            )
        async with _lifespan(app) as life:
            sup.state = life.state
            status = await _run(sup, settings, metrics, handle_signals, on_started)
        if life.close_failed and status == 0:
            status = 1
        if watchdog is not None:
            watchdog.status = status
        return status


async def _run(
    sup: Supervisor,
    settings: Settings,
    metrics: Metrics,
    handle_signals: bool,
    on_started: Callable[[Supervisor, int], Awaitable[None] | None] | None,
) -> int:
    collector = Collector(lambda: sup.in_flight)
    lag = LagMonitor(collector=collector, in_flight=lambda: sup.in_flight)
    agent = os.environ.get("ECS_AGENT_URI", "")
    use_protection = settings.task_protection == "on" or (
        settings.task_protection == "auto" and bool(agent)
    )
    protection: TaskProtection | None = None
    if use_protection:
        if not agent:
            raise ConfigurationError("FLEET_TASK_PROTECTION=on but ECS_AGENT_URI is not set")
        protection = TaskProtection(
            agent,
            busy=lambda: sup.in_flight > 0,
            changes=sup.next_change,
            metrics=metrics,
            idle_grace_seconds=settings.task_protection_idle_seconds,
        )

    def snapshot() -> Snapshot:
        return replace(
            sup.snapshot(),
            task_protection=bool(protection and protection.enabled),
            event_loop_lag_seconds=lag.lag_seconds,
        )

    metrics.snapshot = snapshot
    scraped = Scrapes()
    web_app = make_app(
        metrics.registry,
        ready=lambda: sup.ready,
        readiness=lambda: {
            "mode": sup.mode.value,
            "in_flight": sup.in_flight,
            "pollers": {rt.name: rt.pollers.running if rt.pollers else 0 for rt in sup.runtimes},
            "polls_failing_seconds": {
                rt.name: round(rt.pollers.failing_for(), 1) if rt.pollers else 0.0
                for rt in sup.runtimes
            },
        },
        health=lambda: {"event_loop_lag_seconds": round(lag.lag_seconds, 4)},
        on_scrape=scraped.note,
    )
    async with anyio.create_task_group() as companions:
        port = await companions.start(
            serve_http, web_app, settings.metrics_host, settings.metrics_port
        )
        companions.start_soon(lag.run)
        companions.start_soon(collector.run)
        if handle_signals:
            companions.start_soon(_watch_signals, sup)
        if protection is not None:
            companions.start_soon(protection.run)
        if settings.cloudwatch_namespace:
            companions.start_soon(
                lambda: publish(
                    snapshot,
                    namespace=settings.cloudwatch_namespace,
                    service=settings.service_name,
                    interval=settings.cloudwatch_interval_seconds,
                )
            )
        if settings.exit_when_idle_seconds is not None:
            companions.start_soon(_stop_when_idle, sup, settings.exit_when_idle_seconds)
        metadata = os.environ.get("ECS_CONTAINER_METADATA_URI_V4", "")
        if metadata and settings.deployment_check_seconds > 0:
            companions.start_soon(_watch_deployment, sup, settings, metrics, metadata)
        _log.info(
            "worker started",
            extra={
                "worker": settings.worker_name,
                "activities": {rt.name: rt.arn for rt in sup.runtimes},
                "concurrency": settings.concurrency,
                "pollers": f"{settings.min_pollers}..{settings.max_pollers}",
            },
        )
        if on_started is not None:
            companions.start_soon(_call_started, on_started, sup, port)
        status = await sup.run()
        await linger(sup, settings, scraped)
        companions.cancel_scope.cancel()
    _log.info("worker stopped", extra={"exit_status": status})
    return status


@dataclass
class _Life:
    state: Any = None
    close_failed: bool = False


@asynccontextmanager
async def _lifespan(app: Fleet) -> AsyncIterator[_Life]:
    """The app's lifespan around the worker: set up before the first poll, closed after.

    It closes once the last task is reported. A failure to start is a start-up error
    (ConfigurationError); a failure to close is logged and makes the exit status non-zero.
    """
    life = _Life()
    context = app.lifespan_context()
    try:
        life.state = await context.__aenter__()
    except Exception as exc:
        raise ConfigurationError(
            f"the app's lifespan failed to start: {type(exc).__name__}: {exc}"
        ) from None
    try:
        yield life
    finally:
        try:
            with anyio.CancelScope(shield=True):
                await context.__aexit__(None, None, None)
        except Exception:
            life.close_failed = True
            _log.exception("the app's lifespan failed to close")


async def _call_started(
    on_started: Callable[[Supervisor, int], Awaitable[None] | None], sup: Supervisor, port: int
) -> None:
    while not sup.ready and sup.accepting:
        await sup.wait_changed()
    result = on_started(sup, port)
    if result is not None:
        await result


async def _watch_signals(sup: Supervisor) -> None:
    """Signals only set the supervisor's state: drain, then fail back, then exit at once."""
    count = 0
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            count += 1
            name = signal.Signals(signum).name
            if count >= 3:
                _log.error(
                    "third stop signal: exiting now without reporting", extra={"signal": name}
                )
                os._exit(1)
            sup.drain(name)


async def _watch_deployment(
    sup: Supervisor, settings: Settings, metrics: Metrics, metadata_uri: str
) -> None:
    """A service task whose deployment was superseded stops as a batch worker does."""
    session = aioboto3.Session(region_name=settings.region)
    async with session.client("ecs", config=AioConfig(retries={"max_attempts": 3})) as ecs:
        watch = DeploymentWatch(
            metadata_uri,
            ecs,
            check_seconds=settings.deployment_check_seconds,
            on_superseded=sup.stop,
            metrics=metrics,
        )
        await watch.run()


async def _stop_when_idle(sup: Supervisor, idle_seconds: float) -> None:
    """Batch mode: stop once no task has arrived or run for ``idle_seconds``."""
    while sup.accepting:
        idle_for = anyio.current_time() - sup.last_activity
        if sup.in_flight == 0 and idle_for >= idle_seconds:
            sup.stop(f"idle for {idle_seconds:g} s (--exit-when-idle)")
            return
        await anyio.sleep(min(1.0, max(0.05, idle_seconds - idle_for)))
