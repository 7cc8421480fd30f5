"""The stack file: one TOML document validated by pydantic models, errors naming the field."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from deploy import cron
from deploy.errors import StackFileError
from deploy.fargate import Architecture, is_valid, valid_memory_for
from fleet._arn import valid_name

STACK_TAG = "sfn-fleet:stack"

# Step Functions names: 1-80 characters, no whitespace, brackets, wildcards, punctuation
# from the list in the service quotas page, or control characters.
_STACK_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_SCHEDULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,30}$")
_APP = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_RATE = re.compile(r"^rate\((\d+) (minutes?|hours?|days?)\)$")
_AT = re.compile(r"^at\(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\)$")
LOG_RETENTION_DAYS: tuple[int, ...] = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400)
LOG_RETENTION_DAYS += (545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetrySpec(_Model):
    """Retriers generated for each activity's Task state."""

    interval_seconds: int = Field(1, ge=1, le=99_999_999)
    max_attempts: int = Field(5, ge=1, le=99)
    backoff_rate: float = Field(2.0, ge=1.0, le=10.0)
    timeout_interval_seconds: int = Field(5, ge=1, le=99_999_999)
    timeout_max_attempts: int = Field(2, ge=0, le=99)
    errors: tuple[str, ...] = ()
    errors_max_attempts: int = Field(2, ge=1, le=99)


class ActivitySpec(_Model):
    """One Step Functions activity the fleet serves."""

    name: str
    heartbeat_seconds: int = Field(60, ge=1, le=99_999_999)
    timeout_seconds: int = Field(3600, ge=1, le=99_999_999)
    retry: RetrySpec = RetrySpec()

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not valid_name(value):
            raise ValueError(
                "must be 1-80 characters with no whitespace, brackets, wildcards or "
                'any of " # % \\ ^ | ~ ` $ & , ; : /'
            )
        return value

    @field_validator("timeout_seconds")
    @classmethod
    def _timeout_above_heartbeat(cls, value: int, info: Any) -> int:
        heartbeat = info.data.get("heartbeat_seconds")
        if heartbeat is not None and value <= heartbeat:
            raise ValueError(f"must be above heartbeat_seconds ({heartbeat}), got {value}")
        return value


class StateMachineSpec(_Model):
    """The state machine: generated from the activities, or read from an ASL file."""

    definition_file: str | None = None
    pass_context: bool = True
    timeout_seconds: int | None = Field(None, ge=1, le=31_536_000)
    comment: str = "sfn-fleet stack"
    # Execution logging to CloudWatch Logs; execution data (inputs, outputs) is off by
    # default because it may hold what the handlers process.
    log_level: Literal["ALL", "ERROR", "FATAL", "OFF"] = "ERROR"
    log_execution_data: bool = False


class NetworkSpec(_Model):
    """Where Fargate tasks run (awsvpc)."""

    subnets: tuple[str, ...] = Field(min_length=1, max_length=16)
    security_groups: tuple[str, ...] = Field(min_length=1, max_length=5)
    assign_public_ip: bool = False

    @field_validator("subnets")
    @classmethod
    def _subnets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not re.match(r"^subnet-[0-9a-f]{8,17}$", item):
                raise ValueError(f"{item!r} is not a subnet id (subnet-0123456789abcdef0)")
        return value

    @field_validator("security_groups")
    @classmethod
    def _groups(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not re.match(r"^sg-[0-9a-f]{8,17}$", item):
                raise ValueError(f"{item!r} is not a security group id (sg-0123456789abcdef0)")
        return value


class ImageSpec(_Model):
    """The worker image: a tag in the stack's ECR repository, or any image URI.

    Without a tag, the tag is the commit of the git checkout that holds the stack file.
    """

    tag: str | None = Field(None, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    uri: str | None = None
    base_image: str | None = None
    context: str = "."
    dockerfile: str = "Dockerfile"


_SECRET_ARN = re.compile(
    r"^arn:aws(-cn|-us-gov)?:(secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+(:[^:]*:[^:]*:[^:]*)?"
    r"|ssm:[a-z0-9-]+:\d{12}:parameter/[\w/.-]+)$"
)
_KMS_KEY = re.compile(r"^arn:aws(-cn|-us-gov)?:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ACTION = re.compile(r"^([a-z0-9-]+:[A-Za-z0-9*?]+|\*)$")
_POLICY_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::(aws|\d{12}):policy/[\w+=,.@/-]+$")


class StatementSpec(_Model):
    """One IAM statement added to the worker's task role (what the handlers call: S3, a DB)."""

    sid: str | None = Field(None, pattern=r"^[A-Za-z0-9]{1,100}$")
    effect: Literal["Allow", "Deny"] = "Allow"
    actions: tuple[str, ...] = Field(min_length=1)
    resources: tuple[str, ...] = Field(min_length=1)
    conditions: dict[str, dict[str, Any]] = {}

    @field_validator("actions")
    @classmethod
    def _actions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not _ACTION.match(item):
                raise ValueError(f"{item!r} is not an IAM action such as 's3:GetObject'")
        return value

    @field_validator("resources")
    @classmethod
    def _resources(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if item != "*" and not item.startswith("arn:"):
                raise ValueError(f"{item!r} is not an ARN (or '*')")
        return value


class WorkerSpec(_Model):
    """Settings passed to the worker container as FLEET_ environment variables."""

    app: str
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    task_protection: Literal["auto", "on", "off"] = "auto"
    exit_when_idle_seconds: int = Field(60, ge=1)
    max_tasks: int | None = Field(None, ge=1)
    environment: dict[str, str] = {}
    secrets: dict[str, str] = {}
    secrets_kms_keys: tuple[str, ...] = ()
    statements: tuple[StatementSpec, ...] = ()
    managed_policies: tuple[str, ...] = ()
    # Hardening: a read-only root filesystem (a writable /tmp volume), the image's non-root
    # user, awslogs in non-blocking mode so a slow log stream never stalls the worker.
    read_only_root: bool = True
    user: str = Field("10001:10001", pattern=r"^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$")
    log_mode: Literal["non-blocking", "blocking"] = "non-blocking"
    log_buffer_size: str = Field("25m", pattern=r"^[0-9]+[kmg]?$")
    # ECS Exec (`aws ecs execute-command`): off by default; its agent needs a writable root.
    ecs_exec: bool = False

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, value: dict[str, str]) -> dict[str, str]:
        for name, arn in value.items():
            if not _ENV_NAME.match(name):
                raise ValueError(f"{name!r} is not an environment variable name")
            if not _SECRET_ARN.match(arn):
                raise ValueError(
                    f"{name}: {arn!r} is not the ARN of a Secrets Manager secret "
                    "(arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME[:json-key::]) or of an "
                    "SSM parameter (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME)"
                )
        return value

    @field_validator("secrets_kms_keys")
    @classmethod
    def _kms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for arn in value:
            if not _KMS_KEY.match(arn):
                raise ValueError(
                    f"{arn!r} is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)"
                )
        return value

    @field_validator("managed_policies")
    @classmethod
    def _managed(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for arn in value:
            if not _POLICY_ARN.match(arn):
                raise ValueError(f"{arn!r} is not an IAM policy ARN")
        return value

    @field_validator("app")
    @classmethod
    def _app(cls, value: str) -> str:
        if not _APP.match(value):
            raise ValueError(
                f"must be 'module:attribute', e.g. 'fleet.examples.hello:app', got {value!r}"
            )
        return value


class SizingSpec(_Model):
    """Inputs to `size`; see deploy/sizing.py for every formula."""

    arrival_rate_per_second: float | None = Field(None, gt=0)
    tasks_per_run: int | None = Field(None, ge=1)
    deadline_seconds: float | None = Field(None, gt=0)
    duration_mean_seconds: float = Field(gt=0)
    duration_p95_seconds: float = Field(gt=0)
    vcpu_per_inflight: float = Field(0.01, gt=0, le=16)
    memory_mib_per_inflight: float = Field(16, gt=0, le=122_880)
    target_utilization: float = Field(0.7, gt=0, le=1)
    base_vcpu: float = Field(0.05, ge=0, lt=16)
    base_memory_mib: int = Field(256, ge=0, lt=122_880)
    max_slots_per_task: int = Field(256, ge=1, le=10_000)
    task_cpu: int | None = None
    task_memory: int | None = None
    min_tasks: int | None = Field(None, ge=0)
    max_tasks: int | None = Field(None, ge=1)
    max_pollers_per_task: int | None = Field(None, ge=1)
    spot_share: float = Field(0.0, ge=0, le=1)
    spot_discount: float = Field(0.70, ge=0, lt=1)
    acceptable_wait_seconds: int = Field(30, ge=1)
    # The rest of the bill (deploy/bill.py): how tasks reach AWS's APIs from private subnets,
    # the data a task moves through it, the account's Fargate vCPU quota.
    egress: Literal["nat", "endpoints", "public"] = "nat"
    kib_per_task: float = Field(8.0, ge=0)
    fargate_vcpu_quota: int | None = Field(None, ge=1)

    @field_validator("duration_p95_seconds")
    @classmethod
    def _p95_above_mean(cls, value: float, info: Any) -> float:
        mean = info.data.get("duration_mean_seconds")
        if mean is not None and value < mean:
            raise ValueError(f"must be at least duration_mean_seconds ({mean:g}), got {value:g}")
        return value

    @field_validator("task_memory")
    @classmethod
    def _size(cls, value: int | None, info: Any) -> int | None:
        cpu = info.data.get("task_cpu")
        if (cpu is None) != (value is None):
            raise ValueError("set task_cpu and task_memory together, or neither")
        if cpu is not None and value is not None and not is_valid(cpu, value):
            choices = valid_memory_for(cpu)
            hint = (
                f"with task_cpu {cpu} use one of {', '.join(map(str, choices))}"
                if choices
                else "task_cpu must be 256, 512, 1024, 2048, 4096, 8192 or 16384"
            )
            raise ValueError(f"{cpu} CPU units with {value} MiB is not a Fargate size: {hint}")
        return value


class _Timed(_Model):
    """A model with a schedule ``expression`` and its ``timezone``, both checked on load."""

    expression: str
    timezone: str = "UTC"

    @field_validator("expression")
    @classmethod
    def _expression(cls, value: str) -> str:
        problem = schedule_expression_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        problem = cron.timezone_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class ScheduleSpec(_Timed):
    """A schedule that starts the state machine (and, in batch mode, the worker tasks)."""

    name: str
    expression: str
    timezone: str = "UTC"
    enabled: bool = True
    input: dict[str, Any] = {}

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _SCHEDULE_NAME.match(value):
            raise ValueError(
                "must be 1-31 letters, digits, '-' or '_', starting with a letter or digit"
            )
        return value


class PeakSpec(_Timed):
    """A known peak: from ``expression`` on, the service scales between these bounds."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    expression: str
    timezone: str = "UTC"
    min_tasks: int = Field(ge=0)
    max_tasks: int = Field(ge=1)

    @field_validator("max_tasks")
    @classmethod
    def _bounds(cls, value: int, info: Any) -> int:
        low = info.data.get("min_tasks")
        if low is not None and value < low:
            raise ValueError(f"must be at least min_tasks ({low}), got {value}")
        return value


class AlarmsSpec(_Model):
    """Opt-in operational alarms: failed executions, failed tasks, throttling."""

    enabled: bool = False
    # An existing SNS topic to notify; without it the stack creates <name>-alarms.
    topic_arn: str | None = Field(None, pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]+$")
    # Fire when more than this many events happen in one minute.
    threshold: int = Field(0, ge=0)
    # Roll a deployment back when the task-failures alarm fires during it.
    guard_deployments: bool = True


class Stack(_Model):
    """One deployable fleet: everything `plan`, `apply` and `destroy` act on."""

    name: str
    region: str
    mode: Literal["service", "batch"] = "service"
    architecture: Architecture = "arm64"
    log_retention_days: int = 30
    scheduler: Literal["scheduler", "events-rule"] = "scheduler"
    image: ImageSpec = ImageSpec()
    worker: WorkerSpec
    activities: tuple[ActivitySpec, ...] = Field(min_length=1)
    state_machine: StateMachineSpec = StateMachineSpec()
    network: NetworkSpec
    sizing: SizingSpec
    schedules: tuple[ScheduleSpec, ...] = ()
    alarms: AlarmsSpec = AlarmsSpec()
    peaks: tuple[PeakSpec, ...] = ()
    tags: dict[str, str] = {}
    activity_prefix: str = Field("", pattern=r"^[A-Za-z0-9_.-]{0,40}$")
    permissions_boundary: str | None = Field(None, pattern=_POLICY_ARN.pattern)
    # The directory of the stack file; relative paths (definition_file) resolve against it.
    base_dir: Path = Path(".")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _STACK_NAME.match(value):
            raise ValueError(
                "must be 2-32 lowercase letters, digits or '-', starting with a letter "
                "(it names the ECR repository, roles, cluster, service and state machine)"
            )
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION.match(value):
            raise ValueError(f"{value!r} is not an AWS Region name such as 'us-east-1'")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if key.startswith("aws:") or key == STACK_TAG:
                raise ValueError(f"tag key {key!r} is reserved")
        return value

    def tag_dict(self) -> dict[str, str]:
        """The tags every resource carries: the user's tags plus the ownership tag."""
        return {**self.tags, STACK_TAG: self.name}


def schedule_expression_problem(expression: str) -> str | None:
    """What is wrong with a schedule expression, or None if Scheduler accepts its shape.

    >>> schedule_expression_problem("rate(1 hours)")
    "rate value 1 takes the singular unit: 'rate(1 hour)'"
    >>> schedule_expression_problem("cron(0 2 * * * *)") is None
    False
    """
    rate = _RATE.match(expression)
    if rate:
        value, unit = int(rate.group(1)), rate.group(2)
        if value < 1:
            return "rate value must be at least 1"
        if value == 1 and unit.endswith("s"):
            return f"rate value 1 takes the singular unit: 'rate(1 {unit[:-1]})'"
        if value > 1 and not unit.endswith("s"):
            return f"rate value {value} takes the plural unit: 'rate({value} {unit}s)'"
        return None
    if expression.startswith("cron(") and expression.endswith(")"):
        fields = expression[5:-1].split()
        if len(fields) != 6:
            return (
                "cron needs 6 fields (minutes hours day-of-month month day-of-week year), "
                f"got {len(fields)}"
            )
        if (fields[2] == "?") == (fields[4] == "?"):
            return "cron: exactly one of day-of-month (3rd) and day-of-week (5th) must be '?'"
        return cron.expression_problem(expression)
    if _AT.match(expression):
        return cron.expression_problem(expression)
    return "must be 'rate(N unit)', 'cron(6 fields)' or 'at(yyyy-mm-ddThh:mm:ss)'"


def _cross_checks(stack: Stack) -> list[tuple[str, str]]:
    """Checks that span fields; returns (field path, message) pairs."""
    problems: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for index, activity in enumerate(stack.activities):
        if activity.name in seen:
            problems.append(
                (f"activities[{index}].name", f"duplicates activities[{seen[activity.name]}]")
            )
        seen.setdefault(activity.name, index)
    for index, activity in enumerate(stack.activities):
        if len(stack.activity_prefix + activity.name) > 80:
            problems.append(
                (f"activities[{index}].name", "with activity_prefix it is above 80 characters")
            )
    if stack.worker.ecs_exec and stack.worker.read_only_root:
        problems.append(
            (
                "worker.ecs_exec",
                "the ECS Exec agent writes to the root filesystem: "
                "also set worker.read_only_root = false",
            )
        )
    for name in stack.worker.secrets:
        if name in stack.worker.environment:
            problems.append((f"worker.secrets.{name}", "also set in worker.environment"))
    names: dict[str, int] = {}
    for index, schedule in enumerate(stack.schedules):
        if schedule.name in names:
            problems.append(
                (f"schedules[{index}].name", f"duplicates schedules[{names[schedule.name]}]")
            )
        names.setdefault(schedule.name, index)
        if stack.scheduler == "events-rule":
            if schedule.timezone != "UTC":
                problems.append(
                    (
                        f"schedules[{index}].timezone",
                        'CloudWatch Events rules run in UTC only; use scheduler = "scheduler"',
                    )
                )
            if schedule.expression.startswith("at("):
                problems.append(
                    (
                        f"schedules[{index}].expression",
                        'one-time at() schedules need scheduler = "scheduler"',
                    )
                )
    sizing = stack.sizing
    if stack.mode == "service" and sizing.arrival_rate_per_second is None:
        problems.append(("sizing.arrival_rate_per_second", "required in service mode"))
    if stack.mode == "batch":
        for field in ("tasks_per_run", "deadline_seconds"):
            if getattr(sizing, field) is None:
                problems.append((f"sizing.{field}", "required in batch mode"))
        if not stack.schedules:
            problems.append(("schedules", "batch mode runs the workers from schedules: add one"))
    if (
        sizing.min_tasks is not None
        and sizing.max_tasks is not None
        and sizing.min_tasks > sizing.max_tasks
    ):
        problems.append(("sizing.min_tasks", f"above sizing.max_tasks ({sizing.max_tasks})"))
    definition = stack.state_machine.definition_file
    if definition is not None and not (stack.base_dir / definition).is_file():
        problems.append(
            ("state_machine.definition_file", f"{stack.base_dir / definition} does not exist")
        )
    return problems


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


def _format_error(error: Any) -> tuple[str, str]:
    path = _format_loc(tuple(error["loc"]))
    kind = error["type"]
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        message = "unknown field"
    elif kind == "missing":
        message = "required field is missing"
    elif kind not in ("value_error",) and "input" in error:
        message += f" (got {error['input']!r})"
    return path, message


def _set_override(data: dict[str, Any], dotted: str, raw: str) -> None:
    """Apply one ``--set key.path=value`` to the parsed TOML, TOML-typed where possible."""
    try:
        value: Any = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    parts = dotted.split(".")
    node: Any = data
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def load_stack(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Stack:
    """Read and validate a stack file.

    ``overrides`` are ``key.path=value`` strings (``activities.0.heartbeat_seconds=30``)
    applied before validation. Raises StackFileError listing every bad field with its path.
    """
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StackFileError(f"cannot read stack file {file}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise StackFileError(f"{file}: not valid TOML: {exc}") from None
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise StackFileError(f"--set {item!r}: expected key.path=value")
        try:
            _set_override(data, key.strip(), raw.strip())
        except (IndexError, ValueError, TypeError, AttributeError):
            raise StackFileError(f"--set {item!r}: no such field in {file}") from None
    if "base_dir" in data:
        raise StackFileError(f"{file}: base_dir: unknown field")
    data["base_dir"] = file.resolve().parent
    try:
        stack = Stack.model_validate(data)
    except ValidationError as exc:
        lines = [_format_error(error) for error in exc.errors()]
        raise StackFileError(_render(file, lines)) from None
    problems = _cross_checks(stack)
    if problems:
        raise StackFileError(_render(file, problems))
    return stack


def _render(file: Path, problems: list[tuple[str, str]]) -> str:
    body = "\n".join(f"  {path}: {message}" for path, message in problems)
    return f"stack file {file} is invalid:\n{body}"
