"""What a cancel scope costs on the hot path: anyio's CancelScope against asyncio's timeout.

    python benchmarks/cancel_scopes.py [--n 200000]

A task passes through four scopes (the poll's shield and drain limit, the handler's scope,
the report's shield). This times entering and leaving each kind around an ``await`` that
does not suspend, in one task, so that the numbers are the scopes' own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import anyio


async def _nothing() -> None:
    return None


async def bench(n: int) -> dict[str, float]:
    out: dict[str, float] = {}

    started = time.perf_counter()
    for _ in range(n):
        await _nothing()
    base = time.perf_counter() - started

    started = time.perf_counter()
    for _ in range(n):
        with anyio.CancelScope():
            await _nothing()
    out["anyio.CancelScope()"] = time.perf_counter() - started - base

    started = time.perf_counter()
    for _ in range(n):
        with anyio.CancelScope(shield=True):
            await _nothing()
    out["anyio.CancelScope(shield=True)"] = time.perf_counter() - started - base

    started = time.perf_counter()
    for _ in range(n):
        with anyio.CancelScope(deadline=anyio.current_time() + 60):
            await _nothing()
    out["anyio.CancelScope(deadline=...)"] = time.perf_counter() - started - base

    started = time.perf_counter()
    for _ in range(n):
        async with asyncio.timeout(60):
            await _nothing()
    out["asyncio.timeout(60)"] = time.perf_counter() - started - base
    return {k: round(v / n * 1e6, 3) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200_000)
    args = parser.parse_args()
    for loop in ("asyncio", "uvloop"):
        result = anyio.run(bench, args.n, backend_options={"use_uvloop": loop == "uvloop"})
        print(loop, "microseconds per scope:", result)


if __name__ == "__main__":
    main()
