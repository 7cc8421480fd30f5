"""The loop at scale: survivors frozen out of the collector's walk, and lag blamed correctly."""

from __future__ import annotations

import gc
import logging
import sys
import time
import weakref

import anyio
import pytest

from fleet._gc import Collector
from fleet._errors import ConfigurationError
from fleet._loop import LagMonitor, use_uvloop


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector can free it


def test_survivors_are_frozen_and_given_back_when_thawed() -> None:
    collector = Collector(lambda: 0)
    kept = [_Node() for _ in range(1000)]
    probe = weakref.ref(kept[0])
    try:
        collector.freeze()
        assert gc.get_freeze_count() >= len(kept)
        del kept
        gc.collect()  # a full collection no longer walks the frozen cycles...
        assert probe() is not None
        collector.thaw()  # ...until a thaw gives them back and collects them
        assert gc.get_freeze_count() == 0
        assert probe() is None
    finally:
        gc.unfreeze()


async def test_a_lag_from_garbage_collection_blames_the_runtime(
    caplog: pytest.LogCaptureFixture,
) -> None:
    collector = Collector(lambda: 0)
    gc.callbacks.append(collector._callback)
    monitor = LagMonitor(interval=0.02, warn_seconds=0.01, collector=collector)
    heap = [[_Node() for _ in range(50)] for _ in range(10_000)]  # half a million objects
    try:
        with caplog.at_level(logging.WARNING, logger="fleet"):
            async with anyio.create_task_group() as tg:
                tg.start_soon(monitor.run)
                await anyio.sleep(0.05)
                gc.collect()  # a full walk of the heap, in the loop's thread
                await anyio.sleep(0.1)
                time.sleep(0.2)  # a handler blocking the loop, with no collection
                await anyio.sleep(0.1)
                tg.cancel_scope.cancel()
    finally:
        gc.callbacks.remove(collector._callback)
        del heap
    messages = [
        r.getMessage() for r in caplog.records if "event loop was blocked" in r.getMessage()
    ]
    assert any("garbage collection" in m for m in messages), messages
    assert any("plain def" in m for m in messages), messages


def test_uvloop_is_used_when_installed_and_a_missing_one_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert use_uvloop("asyncio") is False
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if not installed
    assert use_uvloop("auto") is False
    with pytest.raises(ConfigurationError, match="pip install 'sfn-fleet\\[uvloop\\]'"):
        use_uvloop("uvloop")
