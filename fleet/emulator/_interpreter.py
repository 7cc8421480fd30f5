"""One execution of a state machine: its status, history and the runner of its states.

No asyncio task per execution: a running execution is a record plus a few timer handles, so
tens of thousands can be open at once. The states themselves run in `Runner`s (one for the
execution, one more per Parallel branch or Map iteration in progress).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from fleet.emulator._history import DETAILS, History, dumps
from fleet.emulator._retry import TIMEOUT, Failure
from fleet.emulator._runner import Runner, iso
from fleet.emulator._task_activity import error_details

if TYPE_CHECKING:
    import asyncio

    from fleet.emulator._runtime import Runtime
    from fleet.emulator._store import StateMachine

__all__ = ["Execution", "iso"]


class Execution:
    """A state machine execution and its history."""

    __slots__ = (
        "arn",
        "cause",
        "deadline_timer",
        "definition",
        "definition_text",
        "error",
        "history",
        "input_text",
        "input_value",
        "machine",
        "mock_calls",
        "name",
        "output",
        "redrive_count",
        "redrive_date",
        "root",
        "runtime",
        "seq",
        "started",
        "status",
        "stopped",
        "test_case",
    )

    def __init__(
        self,
        runtime: Runtime,
        machine: StateMachine,
        arn: str,
        name: str,
        input_text: str,
        input_value: Any,
        seq: int,
        test_case: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.machine = machine
        self.definition = machine.definition
        self.definition_text = machine.definition_text
        self.redrive_count = 0
        self.redrive_date: float | None = None
        self.arn, self.name, self.seq = arn, name, seq
        self.input_text, self.input_value = input_text, input_value
        self.test_case = test_case
        """The mock configuration's test case this execution runs (`<arn>#<case>`), if any."""
        self.mock_calls: dict[str, int] = {}
        """Invocations so far of each mocked state, which pick the mocked answer."""
        self.status = "RUNNING"
        self.started = time.time()
        self.stopped: float | None = None
        self.output: str | None = None
        self.error: str | None = None
        self.cause: str | None = None
        self.history = History()
        self.deadline_timer: asyncio.TimerHandle | None = None
        self.root = Runner(self, self.definition, {}, self._succeed, self._failed)

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Record ExecutionStarted and run until the first state that waits."""
        self.history.add(
            "ExecutionStarted",
            {"input": self.input_text, "inputDetails": DETAILS, "roleArn": self.machine.role_arn},
        )
        if self.definition.timeout_seconds:
            self.deadline_timer = self.runtime.later(self.definition.timeout_seconds, self._expired)
        self.root.start(self.input_value, self.input_text)

    def abort(self, error: str | None, cause: str | None) -> None:
        """StopExecution: ABORTED; an open activity task closes (its token: TaskTimedOut)."""
        if self.status == "RUNNING":
            self._finish("ABORTED", "ExecutionAborted", error_details(error, cause))
            self.error, self.cause = error, cause

    def cancel_timers(self) -> None:
        """Stop every runner and timer (endpoint shutdown)."""
        if self.deadline_timer is not None:
            self.deadline_timer.cancel()
            self.deadline_timer = None
        self.root.stop()

    def context(self) -> dict[str, Any]:
        """The Execution and StateMachine members of the context object."""
        return {
            "Execution": {
                "Id": self.arn,
                "Input": self.input_value,
                "Name": self.name,
                "RoleArn": self.machine.role_arn,
                "StartTime": iso(self.started),
                "RedriveCount": self.redrive_count,
            },
            "StateMachine": {"Id": self.machine.arn, "Name": self.machine.name},
        }

    def redrive_refusal(self) -> str | None:
        """Why RedriveExecution would be refused (redriveStatusReason), or None if it may."""
        if self.status in ("RUNNING", "SUCCEEDED"):
            return f"Execution is {self.status} and cannot be redriven"
        if self.root.state is None:
            return "Execution failed before entering a state and cannot be redriven"
        return None

    def redrive(self) -> None:
        """Go on from the state that did not finish, with its input; variables are kept."""
        self.status = "RUNNING"
        self.stopped = None
        self.output = self.error = self.cause = None
        self.redrive_count += 1
        self.redrive_date = time.time()
        self.mock_calls = {}
        self.history.add("ExecutionRedriven", {"redriveCount": self.redrive_count})
        self.runtime.running.add(self)
        self.machine.running += 1
        self.root.redrive()

    def _expired(self) -> None:
        self.deadline_timer = None
        if self.status == "RUNNING":
            self.error = TIMEOUT
            self._finish("TIMED_OUT", "ExecutionTimedOut", {"error": TIMEOUT})

    def _finish(self, status: str, event: str, details: dict[str, Any]) -> None:
        self.status = status
        self.stopped = time.time()
        self.history.add(event, details)
        self.cancel_timers()
        self.runtime.running.discard(self)
        self.runtime.store.execution_closed(self.machine)

    def _succeed(self, output: Any, text: str | None) -> None:
        if self.status != "RUNNING":
            return
        self.output = dumps(output) if text is None else text
        self._finish(
            "SUCCEEDED", "ExecutionSucceeded", {"output": self.output, "outputDetails": DETAILS}
        )

    def _failed(self, failure: Failure) -> None:
        if self.status != "RUNNING":
            return
        self.error, self.cause = failure.error, failure.cause
        self._finish("FAILED", "ExecutionFailed", error_details(failure.error, failure.cause))
