"""The per-task wire path: SigV4 exactly as botocore signs, error codes as the SDKs read them."""

import datetime

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from fleet._sigv4 import Credentials, Signer
from fleet._wire import error_code


@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzEJr//////////session+token=="])
def test_signature_matches_botocore(token: str | None) -> None:
    body = b'{"activityArn":"arn:aws:states:eu-west-1:123456789012:activity:A","workerName":"w"}'
    headers = {
        "content-type": "application/x-amz-json-1.0",
        "x-amz-target": "AWSStepFunctions.GetActivityTask",
    }
    request = AWSRequest(
        method="POST", url="https://states.eu-west-1.amazonaws.com/", data=body,
        headers={"Content-Type": headers["content-type"], "X-Amz-Target": headers["x-amz-target"]},
    )  # fmt: skip
    creds = BotoCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    SigV4Auth(creds, "states", "eu-west-1").add_auth(request)
    # Sign ours at the very second botocore used.
    when = datetime.datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    ours = Signer("states", "eu-west-1").headers(
        Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token),
        "states.eu-west-1.amazonaws.com",
        headers,
        body,
        now=when.replace(tzinfo=datetime.UTC).timestamp(),
    )

    assert ours["authorization"] == request.headers["Authorization"]
    assert ours["x-amz-date"] == request.headers["X-Amz-Date"]
    if token:
        assert ours["x-amz-security-token"] == token


def test_the_signing_key_is_derived_once_per_day_and_secret() -> None:
    signer = Signer("states", "us-east-1")
    creds = Credentials("A", "S")
    first = signer.headers(creds, "h", {}, b"{}", now=0)
    again = signer.headers(creds, "h", {}, b"{}", now=1)
    assert first["authorization"] != again["authorization"]  # the date is signed
    assert signer._key_for == ("S", "19700101")
    signer.headers(Credentials("A", "T"), "h", {}, b"{}", now=1)
    assert signer._key_for == ("T", "19700101")


@pytest.mark.parametrize(
    ("body", "header", "code"),
    [
        ({"__type": "com.amazonaws.swf.service.v2.model#TaskTimedOut"}, None, "TaskTimedOut"),
        ({"__type": "com.amazon.coral.validate#ValidationException"}, None, "ValidationException"),
        ({"__type": "ThrottlingException:http://internal"}, None, "ThrottlingException"),
        ({}, "ServiceUnavailable", "ServiceUnavailable"),
        ({}, None, "Unknown"),
    ],
)
def test_error_codes_are_read_like_the_aws_sdks_do(
    body: dict[str, str], header: str | None, code: str
) -> None:
    assert error_code(body, header) == code
