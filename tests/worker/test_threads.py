"""The pool of threads for plain ``def`` handlers: what it counts as running."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fleet import _threads
from fleet._threads import ThreadPool


@pytest.fixture
def stalled_after_settle(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each pool thread stops right after it hands a result back, as a busy machine may stop it.

    The worker's exit reads ``busy`` as soon as the last result is back: nothing the thread
    does after handing it over may be needed to make the count right.
    """
    release = threading.Event()
    settle = _threads._settle

    def settle_then_stall(*args: Any) -> None:
        settle(*args)
        release.wait(30)

    monkeypatch.setattr(_threads, "_settle", settle_then_stall)
    yield
    release.set()


def fail() -> None:
    raise ValueError("the handler failed")


@pytest.mark.parametrize("call", [lambda: 42, fail], ids=["returned", "raised"])
@pytest.mark.usefixtures("stalled_after_settle")
async def test_a_call_whose_result_is_back_no_longer_counts_as_running(
    call: Callable[[], Any],
) -> None:
    pool = ThreadPool(1)
    with contextlib.suppress(ValueError):
        await pool.run(call)
    assert pool.busy == 0  # else the exit reports a handler still running: status 1
    pool.close()
