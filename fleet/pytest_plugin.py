"""pytest fixtures for integration tests: a local Step Functions endpoint and a worker.

Installed with sfn-fleet (a ``pytest11`` entry point), so a test needs no conftest::

    from myapp import app

    def test_greets(fleet_worker):
        worker = fleet_worker(app)
        result = worker.run_activity("Greet", {"who": "Ada"})
        assert result.status == "SUCCEEDED"
        assert result.output == {"greeting": "Hello, Ada"}

``emulator`` is the local endpoint (``emulator.endpoint_url``), on a free port in a thread of
the test process; ``fleet_worker(app, **settings)`` creates the app's activities there,
starts a worker on them in another thread and returns a ``fleet.testing.LocalWorker``; both
stop when the test ends. The test itself may be plain or async. Dummy AWS credentials are set
for the test: the local endpoint accepts any. Override ``fleet_emulator_options`` to change
the endpoint (e.g. ``time_scale`` to run service clocks faster).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from fleet._app import Fleet
    from fleet._localworker import LocalWorker
    from fleet.emulator import EmulatorOptions, ThreadedEmulator

# Imports of fleet happen inside the fixtures, so that merely having sfn-fleet installed
# costs other projects' pytest runs nothing.


@pytest.fixture
def fleet_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy AWS credentials and region, and no shared AWS files: no real account is reachable."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("ECS_AGENT_URI", raising=False)


@pytest.fixture
def fleet_emulator_options() -> EmulatorOptions:
    """The local endpoint's options: AWS's behaviour, but empty long polls are held 0.5 s.

    Short polls let a worker stop quickly at the end of a test.
    """
    from fleet.emulator import EmulatorOptions

    return EmulatorOptions(long_poll_seconds=0.5)


@pytest.fixture
def fleet_endpoint(
    fleet_aws_env: None, fleet_emulator_options: EmulatorOptions
) -> Iterator[ThreadedEmulator]:
    """The local endpoint that ``fleet_worker`` uses, in a thread, on a free port."""
    from fleet.emulator import Emulator

    with Emulator.in_thread(fleet_emulator_options) as endpoint:
        yield endpoint


@pytest.fixture
def emulator(fleet_endpoint: ThreadedEmulator) -> ThreadedEmulator:
    """The local Step Functions endpoint: ``emulator.endpoint_url`` takes any AWS client."""
    return fleet_endpoint


@pytest.fixture
def fleet_worker(fleet_endpoint: ThreadedEmulator) -> Iterator[Callable[..., LocalWorker]]:
    """A function that starts an app's worker against the endpoint, and returns it.

    Call it as ``worker = fleet_worker(app, concurrency=4)``: keywords override settings.
    Every worker started is stopped (drained, as on SIGTERM) when the test ends.
    """
    from fleet._localworker import LocalWorker

    workers: list[LocalWorker] = []

    def start(app: Fleet, **settings: Any) -> LocalWorker:
        worker = LocalWorker(app, fleet_endpoint.endpoint_url, **settings)
        workers.append(worker)
        return worker.start()

    yield start
    for worker in reversed(workers):
        worker.stop()
