"""AWS Signature Version 4 for the worker's JSON POSTs, with the signing key cached per day.

botocore signs every request from scratch (and rebuilds its user agent), which costs more
CPU than the rest of a task's handling; this signer does the same arithmetic with the
derived key kept, and a test checks that it matches botocore's signature byte for byte.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

ALGORITHM = "AWS4-HMAC-SHA256"


@dataclass(frozen=True)
class Credentials:
    """The parts of a credential that sign a request."""

    access_key: str
    secret_key: str
    token: str | None = None


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


class Signer:
    """Signs POST requests to one service in one region."""

    def __init__(self, service: str, region: str) -> None:
        self.service = service
        self.region = region
        self._key_for: tuple[str, str] | None = None
        self._key = b""

    def _signing_key(self, secret: str, day: str) -> bytes:
        if self._key_for != (secret, day):
            key = _hmac(f"AWS4{secret}".encode(), day)
            for part in (self.region, self.service, "aws4_request"):
                key = _hmac(key, part)
            self._key_for, self._key = (secret, day), key
        return self._key

    def headers(
        self,
        credentials: Credentials,
        host: str,
        headers: dict[str, str],
        body: bytes,
        now: float | None = None,
    ) -> dict[str, str]:
        """``headers`` plus Host, X-Amz-Date, the security token and Authorization.

        Every header given is signed; names must be lower case.
        """
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
        day = stamp[:8]
        signed = {**headers, "host": host, "x-amz-date": stamp}
        if credentials.token:
            signed["x-amz-security-token"] = credentials.token
        names = sorted(signed)
        canonical = "\n".join(
            [
                "POST",
                "/",
                "",
                "".join(f"{name}:{' '.join(signed[name].split())}\n" for name in names),
                ";".join(names),
                hashlib.sha256(body).hexdigest(),
            ]
        )
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        to_sign = f"{ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(
            self._signing_key(credentials.secret_key, day), to_sign.encode(), hashlib.sha256
        ).hexdigest()
        signed["authorization"] = (
            f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )
        return signed
