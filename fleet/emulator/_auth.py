"""Request signing: every API call must carry a well-formed SigV4 Authorization header.

Any access key is accepted and the signature is not verified (there is no secret to check it
against), but a missing or malformed header is refused with the error AWS answers.
"""

from __future__ import annotations

import re

from fleet.emulator._errors import ApiError

_ALGORITHM = "AWS4-HMAC-SHA256"
# Credential=<key id>/<yyyymmdd>/<region>/<service>/aws4_request
_CREDENTIAL = re.compile(r"[^/\s]+/\d{8}/[a-z0-9-]+/[a-z0-9-]+/aws4_request")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


def check_signature(authorization: str | None) -> None:
    """Raise MissingAuthenticationTokenException or IncompleteSignatureException, as AWS does."""
    if not authorization:
        raise ApiError("MissingAuthenticationTokenException", "Missing Authentication Token")
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != _ALGORITHM:
        raise ApiError(
            "IncompleteSignatureException",
            f"Unsupported authorization type or algorithm in Authorization={authorization}",
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, _, value = part.strip().partition("=")
        fields[key] = value
    problems = []
    if not _CREDENTIAL.fullmatch(fields.get("Credential", "")):
        problems.append(
            "Authorization header requires 'Credential' parameter "
            "(<key>/<date>/<region>/<service>/aws4_request)."
        )
    if not fields.get("SignedHeaders"):
        problems.append("Authorization header requires 'SignedHeaders' parameter.")
    if not _SIGNATURE.fullmatch(fields.get("Signature", "")):
        problems.append("Authorization header requires 'Signature' parameter.")
    if problems:
        raise ApiError(
            "IncompleteSignatureException",
            " ".join(problems) + f" Authorization={authorization}",
        )
