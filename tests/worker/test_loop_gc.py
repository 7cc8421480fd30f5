"""The loop at scale: survivors frozen out of the collector's walk, and lag blamed correctly."""

from __future__ import annotations

import gc
import logging
import sys
import weakref

import pytest

from fleet._errors import ConfigurationError
from fleet._gc import Collector
from fleet._loop import LagMonitor, blame, use_uvloop


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


def test_a_late_loop_is_blamed_on_what_took_the_time() -> None:
    assert blame(1.0, gc_seconds=0.9, cpu_wait_seconds=0.0) == "gc"
    assert blame(1.0, gc_seconds=0.1, cpu_wait_seconds=0.8) == "host"
    assert blame(1.0, gc_seconds=0.1, cpu_wait_seconds=0.1) == "handler"


async def test_the_lag_warning_names_a_collection_it_timed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    collector = Collector(lambda: 0)
    monitor = LagMonitor(collector=collector, in_flight=lambda: 12)
    collector.pauses.append((100.5, 0.8))  # a collection of 0.8 s that ended at 100.5
    with caplog.at_level(logging.WARNING, logger="fleet"):
        monitor._warn(1.0, before=99.5, now=100.6, waited=0.0)
        monitor._warn(1.0, before=200.0, now=201.1, waited=0.0)
    first, second = (r.getMessage() for r in caplog.records)
    assert "garbage collection" in first
    assert "plain def" in second


def test_uvloop_is_used_when_installed_and_a_missing_one_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert use_uvloop("asyncio") is False
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if not installed
    assert use_uvloop("auto") is False
    with pytest.raises(ConfigurationError, match="pip install 'sfn-fleet\\[uvloop\\]'"):
        use_uvloop("uvloop")
