"""Task tokens: long, unguessable, and recognisable as ours after their task has closed.

A token is URL-safe base64 of a version byte, a serial number, random padding and a keyed
BLAKE2 tag. Only open tasks are kept in memory; a token that is not open but carries a valid
tag was issued here and has closed (`TaskTimedOut`), anything else is `InvalidToken`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from typing import Generic, TypeVar

T = TypeVar("T")

_VERSION = b"\x01"
_PAD = 200
_TAG = 16
_RAW = 1 + 8 + _PAD + _TAG


class TokenBook(Generic[T]):
    """Issues tokens and maps the open ones to their task records."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._serial = 0
        self.open: dict[str, T] = {}
        """Tokens of tasks that may still be completed."""

    def issue(self, record: T) -> str:
        """A new token for `record`, registered as open."""
        self._serial += 1
        body = _VERSION + self._serial.to_bytes(8, "big") + os.urandom(_PAD)
        tag = hashlib.blake2b(body, key=self._key, digest_size=_TAG).digest()
        token = base64.urlsafe_b64encode(body + tag).decode()
        self.open[token] = record
        return token

    def close(self, token: str) -> None:
        """Forget an open token; later use of it is `TaskTimedOut`."""
        self.open.pop(token, None)

    def was_issued(self, token: str) -> bool:
        """Whether `token` is one this book issued (open or closed)."""
        try:
            raw = base64.urlsafe_b64decode(token.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            return False
        if len(raw) != _RAW or raw[:1] != _VERSION:
            return False
        body, tag = raw[:-_TAG], raw[-_TAG:]
        expected = hashlib.blake2b(body, key=self._key, digest_size=_TAG).digest()
        return secrets.compare_digest(tag, expected)
