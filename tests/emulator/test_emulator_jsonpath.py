"""JSONPath queries where AWS allows them: filters, slices, unions and deep scans."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from emulator_support import code_of, create_machine, wait_closed

pytestmark = pytest.mark.emulator_options(time_scale=100.0)

STORE = {
    "store": {
        "book": [
            {"title": "a", "price": 8, "tags": ["x"]},
            {"title": "b", "price": 12},
            {"title": "c", "price": 30, "isbn": "1"},
        ],
        "bicycle": {"price": 19},
    }
}


async def test_queries_in_input_path_and_parameters(sfn: Any) -> None:
    definition = {
        "StartAt": "Q",
        "States": {
            "Q": {
                "Type": "Pass",
                "InputPath": "$.store",
                "Parameters": {
                    "prices.$": "$..price",
                    "cheap.$": "$.book[?(@.price < 10)].title",
                    "pricey_with_isbn.$": "$.book[?(@.price > 10 && @.isbn)].title",
                    "either.$": "$.book[?(@.title == 'b' || @.price == 8)].title",
                    "tagged.$": "$..book[?(@.tags)].title",
                    "first_two.$": "$.book[0:2].title",
                    "last.$": "$.book[-1:].title",
                    "picked.$": "$.book[0,2].price",
                    "count.$": "States.ArrayLength($.book[?(@.price >= 12)])",
                },
                "End": True,
            }
        },
    }
    machine = await create_machine(sfn, definition)
    arn = (await sfn.start_execution(stateMachineArn=machine, input=json.dumps(STORE)))[
        "executionArn"
    ]
    described = await wait_closed(sfn, arn)
    assert json.loads(described["output"]) == {
        "prices": [8, 12, 30, 19],
        "cheap": ["a"],
        "pricey_with_isbn": ["c"],
        "either": ["a", "b"],
        "tagged": ["a"],
        "first_two": ["a", "b"],
        "last": ["c"],
        "picked": [8, 30],
        "count": 2,
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [("ResultPath", "$.book[?(@.price)]"), ("ResultPath", "$.a[0:1]"), ("ResultPath", "$..a")],
)
async def test_reference_paths_refuse_queries(sfn: Any, field: str, value: str) -> None:
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", field: value, "End": True}}}
    with pytest.raises(ClientError) as caught:
        await create_machine(sfn, definition)
    assert code_of(caught.value) == "InvalidDefinition"
    assert "must be a reference path" in caught.value.response["Error"]["Message"]


async def test_a_choice_variable_must_be_a_reference_path(sfn: Any) -> None:
    definition = {
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Choices": [{"Variable": "$..price", "NumericEquals": 1, "Next": "S"}],
                "Default": "S",
            },
            "S": {"Type": "Succeed"},
        },
    }
    with pytest.raises(ClientError) as caught:
        await create_machine(sfn, definition)
    assert "must be a reference path" in caught.value.response["Error"]["Message"]
