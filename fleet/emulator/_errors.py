"""Errors answered to clients, shaped like the Step Functions AWS JSON 1.0 error bodies."""

from __future__ import annotations

import json

_SFN = "com.amazonaws.swf.service.v2.model"
_VALIDATE = "com.amazon.coral.validate"
_SERVICE = "com.amazon.coral.service"
_AVAILABILITY = "com.amazon.coral.availability"

# Codes that belong to the coral framework rather than the Step Functions model; every other
# code is a modeled Step Functions error in the `swf.service.v2.model` namespace.
_NAMESPACES = {
    "ValidationException": _VALIDATE,
    "SerializationException": _SERVICE,
    "UnknownOperationException": _SERVICE,
    "InternalFailure": _SERVICE,
    "ThrottlingException": _AVAILABILITY,
    "ServiceUnavailableException": _AVAILABILITY,
    "MissingAuthenticationTokenException": _SERVICE,
    "IncompleteSignatureException": _SERVICE,
}


class ApiError(Exception):
    """An API call failed; answered as HTTP `status` with `{"__type", "message"}`."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> bytes:
        """The JSON error document, with the full shape id in `__type` as AWS sends it."""
        shape = f"{_NAMESPACES.get(self.code, _SFN)}#{self.code}"
        return json.dumps({"__type": shape, "message": self.message}).encode()


def validation(problems: list[str]) -> ApiError:
    """A coral `ValidationException` listing every constraint violation, as AWS words it."""
    count = len(problems)
    noun = "error" if count == 1 else "errors"
    return ApiError(
        "ValidationException", f"{count} validation {noun} detected: " + "; ".join(problems)
    )


def serialization(message: str) -> ApiError:
    """A request body that is not JSON, or a member of the wrong JSON type."""
    return ApiError("SerializationException", message)


def invalid_arn(detail: str) -> ApiError:
    """A malformed ARN: "Invalid Arn: '<detail>'"."""
    return ApiError("InvalidArn", f"Invalid Arn: '{detail}'")


def invalid_token() -> ApiError:
    """A task token (or page token) that this endpoint never issued."""
    return ApiError("InvalidToken", "Invalid Token: 'Invalid token'")


def task_timed_out() -> ApiError:
    """A task token whose task is closed: completed, timed out, or its execution stopped."""
    return ApiError("TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'")


def throttled() -> ApiError:
    """The token bucket of this API is empty."""
    return ApiError("ThrottlingException", "Rate exceeded")


def internal_failure() -> ApiError:
    """An injected server fault (HTTP 500)."""
    return ApiError("InternalFailure", "An internal error occurred.", status=500)


def service_unavailable() -> ApiError:
    """An injected availability fault (HTTP 503)."""
    return ApiError("ServiceUnavailableException", "Service Unavailable", status=503)
