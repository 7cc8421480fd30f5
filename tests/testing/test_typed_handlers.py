"""Typed handlers: a pydantic model in, validated before the handler runs; a model out, as JSON."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import BaseModel, Field

from fleet import Fleet, Task
from fleet.testing import LocalWorker, TaskEnvironment, TaskFailed


class Order(BaseModel):
    order_id: str
    amount: float = Field(gt=0)


class Receipt(BaseModel):
    order_id: str
    charged: float


app = Fleet()
ran: list[str] = []


@app.activity("Charge")
async def charge(order: Order) -> Receipt:
    ran.append(order.order_id)
    return Receipt(order_id=order.order_id, charged=order.amount)


@app.activity("Refund")
def refund(task: Task, order: Order) -> Receipt:
    task.heartbeat()
    return Receipt(order_id=order.order_id, charged=-order.amount)


async def test_the_model_is_validated_and_the_result_serialised() -> None:
    assert await TaskEnvironment().run(charge, {"order_id": "A1", "amount": "12.5"}) == {
        "order_id": "A1",
        "charged": 12.5,
    }
    env = TaskEnvironment()
    assert await env.run(refund, {"order_id": "A2", "amount": 3}) == {
        "order_id": "A2",
        "charged": -3.0,
    }
    assert len(env.heartbeats) == 1


async def test_invalid_input_fails_before_the_handler_runs() -> None:
    ran.clear()
    with pytest.raises(TaskFailed) as failed:
        await TaskEnvironment().run(charge, {"order_id": "A3", "amount": -1})
    assert failed.value.error == "Fleet.InvalidInput"
    assert "1 validation error for Order" in failed.value.cause
    assert "amount" in failed.value.cause
    assert "greater than 0" in failed.value.cause
    assert ran == []


async def test_models_inside_what_is_returned_are_serialised_too() -> None:
    async def split(task: Task) -> list[Receipt]:
        return [Receipt(order_id=f"{task.input}-{n}", charged=n) for n in (1, 2)]

    async def nothing(task: Task) -> Receipt | None:
        return None

    assert await TaskEnvironment().run(split, "C") == [
        {"order_id": "C-1", "charged": 1.0},
        {"order_id": "C-2", "charged": 2.0},
    ]
    assert await TaskEnvironment().run(nothing, {}) is None


async def test_plain_handlers_are_left_as_they_are() -> None:
    from fleet._typed import wrap

    async def plain(task: Task) -> dict[str, int]:
        return {"n": 1}

    assert wrap(plain) is plain  # no extra frame in its tracebacks


def test_signatures_the_runtime_cannot_fill_are_refused_at_registration() -> None:
    other = Fleet()
    with pytest.raises(TypeError, match="more than one model"):

        @other.activity("Two")
        async def two(a: Order, b: Receipt) -> None: ...

    with pytest.raises(TypeError, match="neither the Task nor the input model"):

        @other.activity("Three")
        async def three(task: Task, order: Order, extra: int) -> None: ...


def test_typed_handlers_in_a_real_worker(fleet_worker: Callable[..., LocalWorker]) -> None:
    worker = fleet_worker(app)
    ok = worker.run_activity("Charge", {"order_id": "B1", "amount": 2})
    assert (ok.status, ok.output) == ("SUCCEEDED", {"order_id": "B1", "charged": 2.0})
    bad = worker.run_activity("Charge", {"order_id": "B2"})
    assert (bad.status, bad.error) == ("FAILED", "Fleet.InvalidInput")
    assert "amount" in (bad.cause or "")
    assert "Field required" in (bad.cause or "")
