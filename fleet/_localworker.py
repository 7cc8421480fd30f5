"""A worker and a local endpoint in threads of the test process, driven with a plain client.

Both run on their own event loops, so a test may be synchronous or asynchronous and may block
while it waits for an execution: nothing it waits for needs its loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import botocore.session

from fleet._errors import ConfigurationError

if TYPE_CHECKING:
    from fleet._app import Fleet
    from fleet._metrics import Metrics
    from fleet._supervisor import Supervisor

REGION = "us-east-1"
#: Any role ARN does for the local endpoint; AWS would check it.
ROLE_ARN = "arn:aws:iam::123456789012:role/fleet-test"
_START_SECONDS = 20.0
_STOP_SECONDS = 60.0


@dataclass(frozen=True)
class ExecutionResult:
    """How an execution ended: its status, its decoded output, or its error and cause."""

    arn: str
    status: str
    output: Any = None
    error: str | None = None
    cause: str | None = None
    described: dict[str, Any] = field(default_factory=dict, repr=False)


def sfn_client(endpoint_url: str, region: str = REGION) -> Any:
    """A synchronous botocore Step Functions client for a local endpoint (any credentials)."""
    return botocore.session.get_session().create_client(
        "stepfunctions",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


class LocalWorker:
    """``app``'s worker on its own thread against ``endpoint_url``, with helpers for tests.

    ``start()`` creates the app's activities on the endpoint (if missing) and waits until the
    worker polls; ``stop()`` stops it as SIGTERM would and waits for it to exit. Settings
    given as keywords override the test defaults (e.g. ``concurrency=4``).
    """

    def __init__(
        self, app: Fleet, endpoint_url: str, *, region: str = REGION, **settings: Any
    ) -> None:
        self.app = app
        self.endpoint_url = endpoint_url
        self.region = region
        self.client = sfn_client(endpoint_url, region)
        self._overrides = settings
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sup: Supervisor | None = None
        self._error: BaseException | None = None
        self._machines: dict[str, str] = {}
        self.metrics: Metrics | None = None
        self.status: int | None = None
        self.port = 0

    def start(self) -> LocalWorker:
        """Create the activities, start the worker, wait until it polls; return self.

        Raises ConfigurationError (or whatever stopped the worker) when it does not start.
        """
        from fleet._metrics import Metrics

        for activity in self.app.activities:
            if activity.arn is None:
                self.client.create_activity(name=activity.name)
        self.metrics = Metrics()
        self._thread = threading.Thread(target=self._main, name="fleet-test-worker", daemon=True)
        self._thread.start()
        if not self._started.wait(_START_SECONDS):
            raise RuntimeError(f"the worker did not start within {_START_SECONDS:g} s")
        if self._sup is None:
            self._thread.join()
            if self._error is not None:
                raise self._error
            raise RuntimeError(f"the worker exited at start-up with status {self.status}")
        return self

    def stop(self) -> int | None:
        """Stop the worker (a drain, as on SIGTERM) and wait for it; return its exit status."""
        loop, sup = self._loop, self._sup
        if loop is not None and sup is not None and self.status is None:
            # A closed loop means the worker has exited already.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(sup.stop, "the test finished")
        if self._thread is not None:
            self._thread.join(_STOP_SECONDS)
        self.client.close()
        return self.status

    def _main(self) -> None:
        from fleet._settings import Settings
        from fleet._worker import serve

        values: dict[str, Any] = {
            "endpoint_url": self.endpoint_url, "region": self.region, "metrics_port": 0,
            "min_pollers": 1, "max_pollers": 4, "concurrency": 16, "drain_seconds": 10.0,
            "drain_reserve_seconds": 2.0, "worker_name": "fleet-test-worker",
            "task_protection": "off",
        }  # fmt: skip
        values.update(self._overrides)

        def on_started(sup: Supervisor, port: int) -> None:
            self._loop = asyncio.get_running_loop()
            self._sup, self.port = sup, port
            self._started.set()

        async def run() -> None:
            settings = Settings(**values)
            self.status = await serve(
                self.app, settings, metrics=self.metrics, on_started=on_started
            )

        try:
            anyio.run(run)
        except BaseException as exc:  # handed to start() in the test's thread
            self._error = exc
        finally:
            self._started.set()

    def activity_arn(self, name: str) -> str:
        """The ARN of the app's activity ``name`` on the endpoint."""
        for item in self.client.list_activities(maxResults=1000)["activities"]:
            if item["name"] == name:
                return str(item["activityArn"])
        raise ConfigurationError(f"no activity named {name!r} on {self.endpoint_url}")

    def create_state_machine(self, definition: dict[str, Any] | str, name: str = "") -> str:
        """Create a state machine; return its ARN."""
        text = definition if isinstance(definition, str) else json.dumps(definition)
        response = self.client.create_state_machine(
            name=name or f"test-{uuid.uuid4().hex[:12]}", definition=text, roleArn=ROLE_ARN
        )
        return str(response["stateMachineArn"])

    def start_execution(self, state_machine_arn: str, input: Any = None) -> str:
        """Start an execution with ``input`` (JSON-encoded for you); return its ARN."""
        response = self.client.start_execution(
            stateMachineArn=state_machine_arn, input=json.dumps({} if input is None else input)
        )
        return str(response["executionArn"])

    def wait(self, execution_arn: str, timeout: float = 30.0) -> ExecutionResult:
        """Wait until the execution ends; return how. Raises TimeoutError past ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            described = self.client.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                output = described.get("output")
                return ExecutionResult(
                    arn=execution_arn,
                    status=described["status"],
                    output=json.loads(output) if output is not None else None,
                    error=described.get("error"),
                    cause=described.get("cause"),
                    described=described,
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"{execution_arn} still RUNNING after {timeout:g} s")
            time.sleep(0.02)

    def execute(
        self, state_machine_arn: str, input: Any = None, timeout: float = 30.0
    ) -> ExecutionResult:
        """Start an execution and wait for it to end."""
        return self.wait(self.start_execution(state_machine_arn, input), timeout)

    def run_activity(self, name: str, input: Any = None, timeout: float = 30.0) -> ExecutionResult:
        """Run one task of activity ``name`` through a one-state state machine and the worker."""
        machine = self._machines.get(name)
        if machine is None:
            state = {"Type": "Task", "Resource": self.activity_arn(name), "End": True}
            definition = {"StartAt": name, "States": {name: state}}
            machine = self._machines[name] = self.create_state_machine(definition)
        return self.execute(machine, input, timeout)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """The execution's events, oldest first."""
        events: list[dict[str, Any]] = []
        params: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = self.client.get_execution_history(**params)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            params["nextToken"] = page["nextToken"]
