"""Bringing a resource's tags to the desired set, whatever the API's tag shape."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any


async def sync_tags(
    current: dict[str, str],
    desired: dict[str, str],
    tag: Callable[[dict[str, str]], Awaitable[Any]],
    untag: Callable[[list[str]], Awaitable[Any]],
) -> None:
    """Set the tags that differ with ``tag`` and remove the extra keys with ``untag``."""
    to_set = {k: v for k, v in desired.items() if current.get(k) != v}
    to_remove = sorted(k for k in current if k not in desired)
    if to_set:
        await tag(to_set)
    if to_remove:
        await untag(to_remove)
