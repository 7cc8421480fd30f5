"""The client flags the command-line tools share, and one-line explanations of client errors.

``fleet executions`` and ``fleet loadtest`` take the same ``--endpoint-url``, ``--region`` and
``--profile`` (with the environment as defaults, like ``fleet run``), and turn what botocore
raises for missing credentials, a wrong port or a bad URL into one line naming what is wrong.
"""

from __future__ import annotations

import argparse
import os
from typing import Any
from urllib.parse import urlsplit

import botocore.exceptions
import botocore.session
from botocore.config import Config
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

from fleet._errors import ConfigurationError


def above_zero(kind: type[float] | type[int]) -> Any:
    """An argparse ``type``: a ``kind`` number above zero, or an error that says what is wrong."""

    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
        return value

    return parse


def add_client_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--endpoint-url``, ``--region`` and ``--profile`` to ``parser``."""
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("FLEET_ENDPOINT_URL") or None,
        metavar="URL",
        help="Step Functions endpoint, e.g. a local one at http://127.0.0.1:8083 "
        "(default: FLEET_ENDPOINT_URL, else AWS)",
    )
    parser.add_argument(
        "--region",
        default=None,
        help="AWS region (default: FLEET_REGION, AWS_REGION or the profile's)",
    )
    parser.add_argument(
        "--profile", default=None, help="AWS profile of the shared config files (default: none)"
    )


def region_of(args: argparse.Namespace) -> str | None:
    """The region the flags and the environment name, if any."""
    for value in (args.region, *(os.environ.get(k) for k in ("FLEET_REGION", "AWS_REGION"))):
        if value:
            return str(value)
    return None


def check_endpoint_url(url: str | None) -> None:
    """Raise ConfigurationError unless ``url`` is None or an http(s) URL with a host."""
    if url is None:
        return
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = parts._replace(netloc="")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"--endpoint-url {url!r} is not a valid URL (e.g. http://127.0.0.1:8083)"
        )


def sync_client(args: argparse.Namespace, **config: Any) -> Any:
    """A botocore Step Functions client for the flags. Raises ConfigurationError."""
    check_endpoint_url(args.endpoint_url)
    try:
        session = botocore.session.Session(profile=args.profile)
        region = region_of(args) or session.get_config_variable("region")
        if not region:
            raise ConfigurationError("no AWS region: pass --region or set AWS_REGION")
        if session.get_credentials() is None:
            raise ConfigurationError(no_credentials(args.endpoint_url))
        return session.create_client(
            "stepfunctions",
            region_name=region,
            endpoint_url=args.endpoint_url,
            config=Config(retries={"mode": "standard", "max_attempts": 3}, **config),
        )
    except ConfigurationError:
        raise
    except Exception as exc:
        raise ConfigurationError(explain(exc, args.endpoint_url)) from None


def no_credentials(endpoint_url: str | None) -> str:
    """The line for missing credentials."""
    line = "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or --profile"
    if endpoint_url:
        line += " (a local endpoint accepts any values, e.g. local and local)"
    return line


def explain(exc: BaseException, endpoint_url: str | None) -> str:
    """One line saying what went wrong with a call, for an operator."""
    where = endpoint_url or "Step Functions"
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return no_credentials(endpoint_url)
    if isinstance(exc, botocore.exceptions.ProfileNotFound):
        return f"{exc}"
    if isinstance(exc, botocore.exceptions.NoRegionError):
        return "no AWS region: pass --region or set AWS_REGION"
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        return f"cannot connect to {where}: is the endpoint running, and is the port right?"
    if isinstance(exc, ConnectTimeoutError | ReadTimeoutError):
        return f"{where} did not answer in time"
    if isinstance(exc, ValueError) and "endpoint" in str(exc).lower():
        return f"--endpoint-url {endpoint_url!r} is not a valid URL (e.g. http://127.0.0.1:8083)"
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Error")
        message = error.get("Message") or ""
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code.isdigit() or (not message and status):
            return f"{where} answered HTTP {status or code}: is it a Step Functions endpoint?"
        return f"{code}: {message}"
    return f"{type(exc).__name__}: {exc}"
