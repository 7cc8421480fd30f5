"""Facts stated once: the worker, the local endpoint and deploy agree because they share them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # `deploy` runs from a checkout (python -m deploy); it is not an installed package.
    sys.path.insert(0, str(ROOT))

from deploy import fargate  # noqa: E402
from deploy.asl import task_state  # noqa: E402
from deploy.stack import ActivitySpec  # noqa: E402
from fleet import Fleet  # noqa: E402
from fleet._demo import definition  # noqa: E402
from fleet.emulator._arns import check_name  # noqa: E402
from fleet.emulator._errors import ApiError  # noqa: E402
from fleet.emulator._throttle import quota  # noqa: E402

ARN = "arn:aws:states:us-east-1:123456789012:activity:Hello"


def test_the_demo_and_deploy_recommend_the_same_task_state() -> None:
    demo = json.loads(definition(ARN, heartbeat_seconds=20, timeout_seconds=300))
    generated = task_state(
        ActivitySpec(name="Hello", heartbeat_seconds=20, timeout_seconds=300), ARN, True
    )
    assert demo["States"]["Greet"] == {**generated, "End": True}
    assert [r["ErrorEquals"] for r in generated["Retry"]] == [
        ["Fleet.Draining", "Fleet.Interrupted"],
        ["States.Timeout", "States.HeartbeatTimeout"],
    ]


def _worker_accepts(name: str) -> bool:
    try:
        Fleet().activity(name)(lambda task: None)
    except ValueError:
        return False
    return True


def _endpoint_accepts(name: str) -> bool:
    try:
        check_name(name)
    except ApiError:
        return False
    return True


def _deploy_accepts(name: str) -> bool:
    try:
        ActivitySpec(name=name)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("Hello", True),
        ("a-b_c.1", True),
        ("x" * 80, True),
        ("", False),
        ("x" * 81, False),
        ("has space", False),
        ("semi;colon", False),
        ("brace{", False),
        ("tab\there", False),
        ("bell\x07", False),
    ],
)
def test_the_worker_the_endpoint_and_deploy_accept_the_same_names(name: str, valid: bool) -> None:
    assert (_worker_accepts(name), _endpoint_accepts(name), _deploy_accepts(name)) == (
        valid,
        valid,
        valid,
    )


@pytest.mark.parametrize(("region", "mode"), [("us-east-1", "large"), ("eu-central-1", "other")])
def test_deploy_sizes_against_the_buckets_the_endpoint_throttles_with(
    region: str, mode: str
) -> None:
    assert fargate.api_refill_per_second(region) == quota("GetActivityTask", mode)[1]
    assert fargate.api_refill_per_second(region) == quota("SendTaskSuccess", mode)[1]
