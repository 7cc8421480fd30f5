"""sfn-fleet: run AWS Step Functions activity workers as an asyncio fleet.

>>> from fleet import Fleet, Task
>>> app = Fleet()
>>> @app.activity("HelloWorldActivity", concurrency=64, heartbeat_seconds=20)
... async def hello(task: Task) -> dict:
...     return {"greeting": f"Hello, {task.input.get('who', 'world')}"}

Run it with ``fleet run myapp:app``.
"""

from fleet._app import Activity, Fleet
from fleet._errors import (
    DRAINING,
    INTERRUPTED,
    INVALID_INPUT,
    INVALID_OUTPUT,
    OUTPUT_TOO_LARGE,
    TIMEOUT,
    ConfigurationError,
    FatalError,
    FleetError,
    TaskFailure,
)
from fleet._settings import Settings
from fleet._task import Task
from fleet._version import __version__

__all__ = [
    "DRAINING",
    "INTERRUPTED",
    "INVALID_INPUT",
    "INVALID_OUTPUT",
    "OUTPUT_TOO_LARGE",
    "TIMEOUT",
    "Activity",
    "ConfigurationError",
    "FatalError",
    "Fleet",
    "FleetError",
    "Settings",
    "Task",
    "TaskFailure",
    "__version__",
]
