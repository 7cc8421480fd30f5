"""List calls and GetExecutionHistory page with maxResults and nextToken."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from emulator_support import ROLE, code_of, create_machine


async def _pages(sfn: Any, operation: str, key: str, **params: Any) -> list[list[Any]]:
    pages = []
    async for page in sfn.get_paginator(operation).paginate(**params):
        pages.append(page[key])
    return pages


async def test_activities_and_state_machines_page_in_creation_order(sfn: Any) -> None:
    names = [f"a{i}" for i in range(7)]
    for name in names:
        await sfn.create_activity(name=name)
    pages = await _pages(sfn, "list_activities", "activities", PaginationConfig={"PageSize": 3})
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [a["name"] for p in pages for a in p] == names

    definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    for name in names[:4]:
        await sfn.create_state_machine(name=name, definition=definition, roleArn=ROLE)
    pages = await _pages(
        sfn, "list_state_machines", "stateMachines", PaginationConfig={"PageSize": 2}
    )
    assert [[m["name"] for m in p] for p in pages] == [["a0", "a1"], ["a2", "a3"]]
    assert pages[0][0]["type"] == "STANDARD"


async def test_last_page_has_no_token_and_default_size_is_100(sfn: Any) -> None:
    for index in range(101):
        await sfn.create_activity(name=f"n{index}")
    first = await sfn.list_activities()
    assert len(first["activities"]) == 100
    rest = await sfn.list_activities(nextToken=first["nextToken"])
    assert [a["name"] for a in rest["activities"]] == ["n100"]
    assert "nextToken" not in rest


async def test_executions_most_recent_first_with_status_filter(sfn: Any) -> None:
    machine = await create_machine(
        sfn, {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}}
    )
    arns = [
        (await sfn.start_execution(stateMachineArn=machine, name=f"e{i}"))["executionArn"]
        for i in range(5)
    ]
    await sfn.stop_execution(executionArn=arns[1])

    pages = await _pages(
        sfn,
        "list_executions",
        "executions",
        stateMachineArn=machine,
        PaginationConfig={"PageSize": 2},
    )
    assert [[e["name"] for e in p] for p in pages] == [["e4", "e3"], ["e2", "e1"], ["e0"]]
    running = await _pages(
        sfn,
        "list_executions",
        "executions",
        stateMachineArn=machine,
        statusFilter="RUNNING",
        PaginationConfig={"PageSize": 3},
    )
    assert [e["name"] for p in running for e in p] == ["e4", "e3", "e2", "e0"]
    aborted = await sfn.list_executions(stateMachineArn=machine, statusFilter="ABORTED")
    assert [(e["name"], e["status"]) for e in aborted["executions"]] == [("e1", "ABORTED")]
    assert "stopDate" in aborted["executions"][0]


async def test_history_pages_both_ways(sfn: Any) -> None:
    machine = await create_machine(
        sfn,
        {
            "StartAt": "A",
            "States": {
                "A": {"Type": "Pass", "Next": "B"},
                "B": {"Type": "Pass", "Next": "C"},
                "C": {"Type": "Pass", "End": True},
            },
        },
    )
    arn = (await sfn.start_execution(stateMachineArn=machine))["executionArn"]
    forward = await _pages(
        sfn, "get_execution_history", "events", executionArn=arn, PaginationConfig={"PageSize": 3}
    )
    assert [[e["id"] for e in p] for p in forward] == [[1, 2, 3], [4, 5, 6], [7, 8]]
    backward = await _pages(
        sfn,
        "get_execution_history",
        "events",
        executionArn=arn,
        reverseOrder=True,
        PaginationConfig={"PageSize": 5},
    )
    assert [[e["id"] for e in p] for p in backward] == [[8, 7, 6, 5, 4], [3, 2, 1]]
    bare = await sfn.get_execution_history(executionArn=arn, includeExecutionData=False)
    assert bare["events"][0]["executionStartedEventDetails"] == {"roleArn": ROLE}


async def test_bad_page_parameters(sfn: Any) -> None:
    await sfn.create_activity(name="one")
    await sfn.create_activity(name="two")
    token = (await sfn.list_activities(maxResults=1))["nextToken"]
    for call in (
        sfn.list_activities(nextToken="bogus-token"),
        sfn.list_state_machines(nextToken=token),  # a token of another listing
    ):
        with pytest.raises(ClientError) as caught:
            await call
        assert code_of(caught.value) == "InvalidToken"
    with pytest.raises(ClientError) as caught:
        await sfn.list_activities(maxResults=1001)
    assert code_of(caught.value) == "ValidationException"
    assert caught.value.response["Error"]["Message"].endswith(
        "Member must have value less than or equal to 1000"
    )
