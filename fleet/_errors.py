"""The exceptions the runtime raises and the error names it reports to Step Functions."""

from __future__ import annotations

from typing import Final

#: A task arrived while the worker was draining; no work was done. Retry it elsewhere.
DRAINING: Final = "Fleet.Draining"
#: The drain budget ran out while the task ran. Retry it elsewhere.
INTERRUPTED: Final = "Fleet.Interrupted"
#: The handler exceeded its own configured timeout.
TIMEOUT: Final = "Fleet.Timeout"
#: The handler's result could not be encoded as JSON.
INVALID_OUTPUT: Final = "Fleet.InvalidOutput"
#: The encoded result exceeds Step Functions' 262,144-byte payload limit.
OUTPUT_TOO_LARGE: Final = "Fleet.OutputTooLarge"


class FleetError(Exception):
    """Base class of every error the runtime raises itself."""


class ConfigurationError(FleetError):
    """Raised at start-up for a bad setting, app string, activity or credentials.

    The message is one line meant for the operator; the CLI prints it and exits with status 2.
    """


class FatalError(FleetError):
    """Raised when the worker cannot keep doing its job (for example polling keeps failing).

    The supervisor fails back what is running, logs one clear line and exits non-zero.
    """


class TaskFailure(Exception):
    """Raise from a handler to fail the task with an error name and cause of your choosing.

    ``error`` is cut to 256 characters and ``cause`` to 32,768, Step Functions' limits. State
    machines can match ``error`` in ``Retry`` and ``Catch``.
    """

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause


#: The task's input is not JSON, or does not validate against a typed handler's model
#: (the cause carries the validation message).
INVALID_INPUT: Final = "Fleet.InvalidInput"
