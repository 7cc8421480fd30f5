"""The request pipeline: route by X-Amz-Target, inject faults and throttles, check, dispatch."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

from fleet.emulator import _ops_executions as executions
from fleet.emulator import _ops_resources as resources
from fleet.emulator import _ops_tags as tags
from fleet.emulator import _ops_tasks as tasks
from fleet.emulator._arns import region_of
from fleet.emulator._auth import check_signature
from fleet.emulator._call import Call, Responder
from fleet.emulator._errors import (
    ApiError,
    internal_failure,
    serialization,
    service_unavailable,
    throttled,
)
from fleet.emulator._runtime import Runtime
from fleet.emulator._shapes import check
from fleet.emulator._throttle import Throttle

log = logging.getLogger("fleet.emulator")

_PREFIX = "AWSStepFunctions."
OPERATIONS: dict[str, Callable[[Call], Any]] = {
    "CreateActivity": resources.create_activity,
    "DescribeActivity": resources.describe_activity,
    "ListActivities": resources.list_activities,
    "DeleteActivity": resources.delete_activity,
    "CreateStateMachine": resources.create_state_machine,
    "DescribeStateMachine": resources.describe_state_machine,
    "ListStateMachines": resources.list_state_machines,
    "UpdateStateMachine": resources.update_state_machine,
    "DeleteStateMachine": resources.delete_state_machine,
    "StartExecution": executions.start_execution,
    "DescribeExecution": executions.describe_execution,
    "ListExecutions": executions.list_executions,
    "StopExecution": executions.stop_execution,
    "GetExecutionHistory": executions.get_execution_history,
    "GetActivityTask": tasks.get_activity_task,
    "SendTaskSuccess": tasks.send_task_success,
    "SendTaskFailure": tasks.send_task_failure,
    "SendTaskHeartbeat": tasks.send_task_heartbeat,
    "TagResource": tags.tag_resource,
    "UntagResource": tags.untag_resource,
    "ListTagsForResource": tags.list_tags_for_resource,
    "DescribeStateMachineForExecution": executions.describe_state_machine_for_execution,
    "ValidateStateMachineDefinition": resources.validate_state_machine_definition,
    "RedriveExecution": executions.redrive_execution,
}


class Connection(Responder, Protocol):
    """What the pipeline needs of a connection beyond answering."""

    def drop(self) -> None:
        """Close the connection at once, without an answer."""


class Api:
    """Turns one parsed HTTP request into one answer (now, later, or a dropped connection)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._throttle = Throttle()

    def reset(self) -> None:
        """Refill every throttling bucket."""
        self._throttle = Throttle()

    def handle(self, conn: Connection, target: str | None, body: bytes, auth: str | None) -> None:
        """Serve one API call; never raises."""
        name = target[len(_PREFIX) :] if target and target.startswith(_PREFIX) else None
        operation = OPERATIONS.get(name) if name else None
        if name is None or operation is None:
            error = ApiError("UnknownOperationException", f"Unknown operation: {target!r}")
            self.runtime.stats.errors[error.code] += 1
            conn.respond(error.status, error.body())
            return
        self.runtime.stats.requests[name] += 1
        latency = self.runtime.options.latency_seconds
        if latency > 0:
            self.runtime.loop.call_later(latency, self._serve, conn, name, operation, body, auth)
        else:
            self._serve(conn, name, operation, body, auth)

    def _serve(
        self,
        conn: Connection,
        name: str,
        operation: Callable[[Call], Any],
        body: bytes,
        auth: str | None,
    ) -> None:
        runtime = self.runtime
        try:
            check_signature(auth)
            if self._injected_fault(conn, name, auth):
                return
            try:
                params = json.loads(body) if body else {}
            except (ValueError, UnicodeDecodeError) as exc:
                raise serialization(f"Malformed JSON request body: {exc}") from None
            if not isinstance(params, dict):
                raise serialization("Start of structure or map expected at the top of the body")
            check(name, params)
            result = operation(Call(runtime, params, auth, conn))
        except ApiError as error:
            runtime.stats.errors[error.code] += 1
            conn.respond(error.status, error.body())
            return
        except Exception:
            # A bug must still answer like AWS would (a 500), never with a traceback.
            log.exception("internal error serving %s", name)
            failure = internal_failure()
            runtime.stats.errors[failure.code] += 1
            conn.respond(failure.status, failure.body())
            return
        if result is tasks.DEFERRED:
            return
        conn.respond(200, result if isinstance(result, bytes) else json.dumps(result).encode())

    def _injected_fault(self, conn: Connection, name: str, auth: str | None) -> bool:
        """Apply fault injection and throttling; True when the call has been answered."""
        options = self.runtime.options
        if options.fault_rate > 0:
            rng = self.runtime.rng
            if rng.random() < options.fault_rate:
                kind = rng.choice(options.fault_kinds)
                self.runtime.stats.faults_injected[kind] += 1
                if kind == "drop":
                    conn.drop()
                    return True
                raise internal_failure() if kind == "500" else service_unavailable()
        if options.throttle is not None and not self._throttle.allow(
            options.throttle, region_of(auth), name
        ):
            self.runtime.stats.throttled[name] += 1
            raise throttled()
        return False
