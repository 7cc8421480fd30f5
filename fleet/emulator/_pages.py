"""Pagination of List* calls and GetExecutionHistory: `maxResults` and opaque `nextToken`s."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fleet.emulator._errors import invalid_token

T = TypeVar("T")
DEFAULT_PAGE = 100


def page(
    items: Sequence[T],
    params: dict[str, Any],
    listing: str,
    key: Callable[[T], int],
    descending: bool = False,
) -> tuple[list[T], str | None]:
    """One page of `items`, already in answer order: `key` rises along it (falls if descending).

    The token names the listing and the key of the last item given, so items added or removed
    between pages neither repeat nor shift the rest. Raises InvalidToken for a token that is
    not one of ours or belongs to another listing.
    """
    size = params.get("maxResults") or DEFAULT_PAGE
    start = 0
    token = params.get("nextToken")
    if token is not None:
        after = _decode(token, listing)
        start = next(
            (
                i
                for i, item in enumerate(items)
                if (key(item) < after if descending else key(item) > after)
            ),
            len(items),
        )
    chunk = list(items[start : start + size])
    more = start + size < len(items)
    return chunk, _encode(listing, key(chunk[-1])) if more and chunk else None


def _encode(listing: str, after: int) -> str:
    raw = json.dumps({"l": listing, "a": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode(token: str, listing: str) -> int:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise invalid_token() from None
    if not isinstance(decoded, dict) or decoded.get("l") != listing:
        raise invalid_token()
    after = decoded.get("a")
    if not isinstance(after, int):
        raise invalid_token()
    return after
