"""A well-formed SigV4 Authorization header for raw HTTP calls to the local endpoint.

The endpoint requires the header's form, as AWS does, but cannot verify the signature.
"""

DUMMY_AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/states/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
)
