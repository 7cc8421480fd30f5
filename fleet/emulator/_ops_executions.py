"""Execution operations: Start/Describe/List/Stop and GetExecutionHistory."""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

from fleet.emulator import _arns
from fleet.emulator._call import Call
from fleet.emulator._errors import ApiError, validation
from fleet.emulator._interpreter import Execution
from fleet.emulator._mocks import MockConfigError
from fleet.emulator._ops_resources import machine
from fleet.emulator._pages import page

_order = itertools.count(1)


def execution(call: Call, arn: str) -> Execution:
    """The execution at `arn`. Raises InvalidArn or ExecutionDoesNotExist."""
    found = call.runtime.store.executions.get(arn)
    if found is None:
        _arns.check(arn, "execution", parts=2)
        raise ApiError("ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn}'")
    return found


def start_execution(call: Call) -> Any:
    params = call.params
    runtime = call.runtime
    # Step Functions Local picks a mock test case with `<stateMachineArn>#<TestCase>`.
    machine_arn, _, test_case = params["stateMachineArn"].partition("#")
    found = machine(call, machine_arn)
    if test_case:
        try:
            mocks = runtime.mocks
        except MockConfigError as exc:
            raise ApiError("ValidationException", str(exc)) from None
        if mocks is None or not mocks.has_case(found.name, test_case):
            raise ApiError(
                "InvalidArn",
                f"Invalid Arn: 'The mock configuration has no test case {test_case!r} for the "
                f"state machine {found.name!r}'"
                + ("" if mocks else " (start the endpoint with --mock-config FILE)"),
            )
    if found.status == "DELETING":
        raise ApiError("StateMachineDeleting", f"State Machine is being deleted: '{found.arn}'")
    name = params.get("name")
    if name is None:
        name = str(uuid.uuid4())
    else:
        _arns.check_name(name)
    text = params.get("input")
    if text is None:
        text = "{}"
    arn = found.arn.replace(":stateMachine:", ":execution:", 1) + ":" + name
    existing = runtime.store.executions.get(arn)
    if existing is not None:
        # Idempotent while running with the same input; otherwise the name is taken.
        if existing.status == "RUNNING" and existing.input_text == text:
            return {"executionArn": arn, "startDate": existing.started}
        raise ApiError("ExecutionAlreadyExists", f"Execution Already Exists: '{arn}'")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ApiError(
            "InvalidExecutionInput", f"Invalid State Machine Execution Input: '{exc}'"
        ) from None
    run = Execution(runtime, found, arn, name, text, value, next(_order), test_case or None)
    runtime.store.executions[arn] = run
    found.executions.append(run)
    found.running += 1
    runtime.running.add(run)
    runtime.stats.executions_started += 1
    run.start()
    return {"executionArn": arn, "startDate": run.started}


def describe_execution(call: Call) -> Any:
    run = execution(call, call.params["executionArn"])
    out = _summary(run)
    # METADATA_ONLY leaves out the execution's data: input, output, error and cause.
    data = call.params.get("includedData") != "METADATA_ONLY"
    if data:
        out["input"] = run.input_text
        out["inputDetails"] = {"included": True}
        if run.output is not None:
            out["output"] = run.output
            out["outputDetails"] = {"included": True}
        if run.error is not None:
            out["error"] = run.error
        if run.cause is not None:
            out["cause"] = run.cause
    refusal = run.redrive_refusal()
    out["redriveStatus"] = "NOT_REDRIVABLE" if refusal else "REDRIVABLE"
    if refusal:
        out["redriveStatusReason"] = refusal
    if run.redrive_date is not None:
        out["redriveDate"] = run.redrive_date
    return out


def describe_state_machine_for_execution(call: Call) -> Any:
    """The state machine definition and settings the execution runs with."""
    run = execution(call, call.params["executionArn"])
    found = run.machine
    out: dict[str, Any] = {
        "stateMachineArn": found.arn,
        "name": found.name,
        "definition": run.definition_text,
        "roleArn": found.role_arn,
        "updateDate": found.updated or found.created,
        "loggingConfiguration": found.logging,
        "tracingConfiguration": found.tracing,
        "encryptionConfiguration": {"type": "AWS_OWNED_KEY"},
    }
    if call.params.get("includedData") == "METADATA_ONLY":
        del out["definition"]
    return out


def redrive_execution(call: Call) -> Any:
    """Restart a FAILED, TIMED_OUT or ABORTED execution from the state that did not finish."""
    run = execution(call, call.params["executionArn"])
    refusal = run.redrive_refusal()
    if refusal:
        raise ApiError("ExecutionNotRedrivable", f"Execution not redrivable: {refusal}")
    if run.machine.status == "DELETING" or run.machine.arn not in call.runtime.store.machines:
        raise ApiError(
            "ExecutionNotRedrivable", "Execution not redrivable: its state machine is deleted"
        )
    run.redrive()
    return {"redriveDate": run.redrive_date}


def _summary(run: Execution) -> dict[str, Any]:
    out: dict[str, Any] = {
        "executionArn": run.arn,
        "stateMachineArn": run.machine.arn,
        "name": run.name,
        "status": run.status,
        "startDate": run.started,
    }
    if run.stopped is not None:
        out["stopDate"] = run.stopped
    out["redriveCount"] = run.redrive_count
    if run.redrive_date is not None:
        out["redriveDate"] = run.redrive_date
    return out


def list_executions(call: Call) -> Any:
    params = call.params
    arn = params.get("stateMachineArn")
    if arn is None:
        if params.get("mapRunArn") is not None:
            raise ApiError("ResourceNotFound", "Map runs are not supported by the local endpoint")
        raise validation(["Must provide a StateMachine ARN or MapRun ARN"])
    found = machine(call, arn)
    wanted = params.get("statusFilter")
    redriven = params.get("redriveFilter")
    # Most recent first, as AWS lists them.
    items = [
        r
        for r in reversed(found.executions)
        if (wanted is None or r.status == wanted)
        and (redriven is None or (r.redrive_count > 0) == (redriven == "REDRIVEN"))
    ]
    chunk, token = page(
        items, params, f"executions:{arn}:{wanted}:{redriven}", lambda r: r.seq, descending=True
    )
    out: dict[str, Any] = {"executions": [_summary(r) for r in chunk]}
    if token:
        out["nextToken"] = token
    return out


def stop_execution(call: Call) -> Any:
    params = call.params
    run = execution(call, params["executionArn"])
    run.abort(params.get("error"), params.get("cause"))
    return {"stopDate": run.stopped}


def get_execution_history(call: Call) -> Any:
    params = call.params
    run = execution(call, params["executionArn"])
    history = run.history
    ids = range(len(history), 0, -1) if params.get("reverseOrder") else range(1, len(history) + 1)
    chunk, token = page(
        ids, params, f"history:{run.arn}", lambda i: i, params.get("reverseOrder", False)
    )
    include = params.get("includeExecutionData", True)
    out: dict[str, Any] = {"events": [history.render(i - 1, include) for i in chunk]}
    if token:
        out["nextToken"] = token
    return out
