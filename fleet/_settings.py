"""The worker's settings: one frozen class, read from ``FLEET_*`` variables and CLI flags."""

from __future__ import annotations

import difflib
import os
import socket
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fleet._errors import ConfigurationError
from fleet._limits import MAX_POLLERS_PER_ACTIVITY, MAX_WORKER_NAME_CHARS

#: A duration: positive and finite (``inf`` would mean a budget or a deadline never ends).
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
#: Step Functions takes HeartbeatSeconds in whole seconds, at least 1; beats go out at 0.8x.
MIN_HEARTBEAT_SECONDS = 1.0
#: The fail-back needs time to report: the reserve ends this much before the budget does
#: (``_EXIT_MARGIN_SECONDS`` of the supervisor) and the reports need the rest.
MIN_DRAIN_RESERVE_SECONDS = 1.0


def _default_worker_name() -> str:
    return socket.gethostname()[:MAX_WORKER_NAME_CHARS] or "fleet"


class Settings(BaseSettings):
    """Everything a worker process can be told, validated once at start-up.

    Every field is read from the environment as ``FLEET_<NAME>`` (``region`` also falls back to
    ``AWS_REGION`` and ``AWS_DEFAULT_REGION``), and ``fleet run`` flags override it.
    """

    model_config = SettingsConfigDict(
        env_prefix="FLEET_",
        frozen=True,
        extra="forbid",
        populate_by_name=True,
        case_sensitive=False,
        use_attribute_docstrings=True,
    )

    app: str | None = None
    """The application as module:attribute, e.g. myapp.workers:app."""
    endpoint_url: str | None = None
    """Step Functions endpoint, e.g. a local endpoint http://127.0.0.1:8083."""
    region: str | None = Field(
        default=None,
        validation_alias=AliasChoices("FLEET_REGION", "AWS_REGION", "AWS_DEFAULT_REGION", "region"),
    )
    """AWS region of the activities."""
    concurrency: int = Field(default=64, ge=1, le=100_000)
    """Process-wide cap on tasks in flight, across all activities."""
    min_pollers: int = Field(default=1, ge=1, le=MAX_POLLERS_PER_ACTIVITY)
    """Fewest concurrent long polls per activity while slots are free."""
    max_pollers: int = Field(default=10, ge=1, le=MAX_POLLERS_PER_ACTIVITY)
    """Most concurrent long polls per activity (the service allows 1,000 per activity ARN)."""
    heartbeat_seconds: Annotated[Seconds, Field(ge=MIN_HEARTBEAT_SECONDS)] = 60.0
    """HeartbeatSeconds assumed for an activity that does not set its own."""
    heartbeat_schedule: Literal["late", "fixed"] = "late"
    """late: beat just before the window closes, spread; fixed: every ~0.8x (the old way)."""
    api_rate: float | None = Field(default=None, gt=0)
    """This process's calls/s per API bucket (the account's refill / processes); unset: none."""
    event_loop: Literal["auto", "asyncio", "uvloop"] = "auto"
    """auto: uvloop when installed (the uvloop extra), else asyncio's own loop."""
    drain_seconds: Seconds = 100.0
    """Budget from SIGTERM to exit; keep it below the task definition's stopTimeout (max 120)."""
    drain_reserve_seconds: Annotated[Seconds, Field(ge=MIN_DRAIN_RESERVE_SECONDS)] = 10.0
    """Part of the drain budget kept for failing running tasks back with Fleet.Interrupted."""
    report_deadline_seconds: Seconds = 30.0
    """How long reporting a result may keep retrying throttling, 5xx and network errors."""
    poll_failure_exit_seconds: Seconds = 600.0
    """Exit non-zero when an activity's polls have failed without a success for this long."""
    metrics_host: str = "127.0.0.1"
    """Address of the HTTP listener (/metrics, /healthz, /readyz); 0.0.0.0 in a container."""
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    """Port of the HTTP listener; 0 picks a free port."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    worker_name: str = Field(
        default_factory=_default_worker_name, min_length=1, max_length=MAX_WORKER_NAME_CHARS
    )
    """Name recorded as workerName in each ActivityStarted event."""
    task_protection: Literal["auto", "on", "off"] = "auto"
    """ECS scale-in protection while busy: auto = on when ECS_AGENT_URI is set."""
    task_protection_idle_seconds: Seconds = 10.0
    """How long the worker stays idle before it turns scale-in protection off again."""
    threads: int = Field(default=32, ge=1, le=4096)
    """Threads for plain ``def`` handlers."""
    exit_when_idle_seconds: Seconds | None = None
    """Batch mode: exit once no task has arrived or run for this long."""
    max_tasks: int | None = Field(default=None, ge=1)
    """Batch mode: exit after this many tasks."""
    cloudwatch_namespace: str = ""
    """When set, publish slot utilisation as CloudWatch embedded metrics under this namespace."""
    cloudwatch_interval_seconds: Seconds = 60.0
    service_name: str = "fleet"
    """ServiceName dimension of the embedded metrics (the stack name on ECS)."""
    activity_prefix: str = ""
    """Prepended to activity names (not full ARNs) before they become ARNs, e.g. staging-."""
    deployment_check_seconds: float = Field(default=30.0, ge=0)
    """ECS service tasks: seconds between checks that the task is still PRIMARY; 0 turns it off."""
    poll_failure_unready_seconds: Seconds = 60.0
    """/readyz answers 503 once an activity's polls have failed without a success this long."""
    metrics_linger_seconds: float = Field(default=15.0, ge=0, le=120, allow_inf_nan=False)
    """After a drain, /metrics answers until it is scraped once or this long (within the
    budget), so the last outcomes reach Prometheus; 0 turns it off."""

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "log_format", "task_protection", "heartbeat_schedule", "event_loop", mode="before"
    )
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("endpoint_url", "region", "app", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("endpoint_url")
    @classmethod
    def _a_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError as exc:
            raise ValueError(f"not a URL ({exc}); use e.g. http://127.0.0.1:8083") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL, e.g. http://127.0.0.1:8083")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.min_pollers > self.max_pollers:
            raise ValueError(
                f"FLEET_MIN_POLLERS ({self.min_pollers}) is above FLEET_MAX_POLLERS "
                f"({self.max_pollers})"
            )
        if self.drain_reserve_seconds >= self.drain_seconds:
            raise ValueError(
                f"FLEET_DRAIN_RESERVE_SECONDS ({self.drain_reserve_seconds:g}) must be below "
                f"FLEET_DRAIN_SECONDS ({self.drain_seconds:g})"
            )
        return self


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    return f"FLEET_{field.upper()}"


def flag_name(field: str) -> str:
    """The ``fleet run`` flag that sets ``field``."""
    return "--" + field.replace("_", "-")


def load_settings(**overrides: Any) -> Settings:
    """Read the settings from the environment, with ``overrides`` (CLI flags) on top.

    Raises ConfigurationError with one line naming the setting when a value is invalid.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    known = {env_name(name) for name in Settings.model_fields}
    unknown = sorted(key for key in os.environ if key.startswith("FLEET_") and key not in known)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ConfigurationError(f"unknown setting {unknown[0]}{hint}")
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise ConfigurationError(describe_validation_error(exc, given)) from None


def describe_validation_error(exc: ValidationError, given: dict[str, Any]) -> str:
    """One line that names the first bad setting, where it came from and what is wrong."""
    error = exc.errors()[0]
    loc = [str(part) for part in error.get("loc", ())]
    message = error.get("msg", "invalid value").removeprefix("Value error, ")
    if not loc:
        return f"invalid settings: {message}"
    field = loc[0].lower().removeprefix("fleet_")
    if field in {"aws_region", "aws_default_region"}:
        field = "region"
    source = flag_name(field) if field in given else env_name(field)
    value = error.get("input")
    shown = f" (got {value!r})" if isinstance(value, str | int | float) else ""
    if error.get("type") == "extra_forbidden":
        return f"unknown setting {env_name(field)}"
    return f"invalid setting {source}: {message}{shown}"
