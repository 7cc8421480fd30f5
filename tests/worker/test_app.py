"""Registering activities: names, ARNs and numbers are checked when the decorator runs."""

import pytest

from fleet import Fleet, Task
from fleet._task import parse_input


def test_activities_by_name_and_by_arn() -> None:
    app = Fleet()

    @app.activity("Resize", concurrency=4, heartbeat_seconds=20, timeout_seconds=300)
    async def resize(task: Task) -> None: ...

    @app.activity("arn:aws:states:eu-west-1:123456789012:activity:Thumbnail")
    def thumbnail(task: Task) -> None: ...

    first, second = app.activities
    assert (first.name, first.arn, first.is_async, first.concurrency) == ("Resize", None, True, 4)
    assert second.name == "Thumbnail"
    assert second.arn == "arn:aws:states:eu-west-1:123456789012:activity:Thumbnail"
    assert second.is_async is False


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("has space", {}, "invalid activity name"),
        ("a" * 81, {}, "invalid activity name"),
        ("arn:aws:states:x:activity", {}, "not an activity ARN"),
        ("Ok", {"concurrency": 0}, "concurrency must be a positive, finite number"),
        ("Ok", {"concurrency": 2.5}, "concurrency must be a whole number"),
        ("Ok", {"heartbeat_seconds": -1}, "heartbeat_seconds"),
        ("Ok", {"timeout_seconds": True}, "timeout_seconds"),
        ("Ok", {"timeout_seconds": float("inf")}, "timeout_seconds must be a positive, finite"),
        ("Ok", {"heartbeat_seconds": float("nan")}, "heartbeat_seconds must be a positive, fin"),
        ("Ok", {"heartbeat_seconds": 0.001}, "heartbeat_seconds must be at least 1"),
    ],
)
def test_bad_registrations_are_refused(name: str, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Fleet().activity(name, **kwargs)  # type: ignore[arg-type]


def test_an_activity_registered_twice_is_refused() -> None:
    app = Fleet()
    app.activity("Twice")(lambda task: None)
    with pytest.raises(ValueError, match="registered twice"):
        app.activity("Twice")(lambda task: None)


def test_plain_input_is_passed_as_parsed_json() -> None:
    assert parse_input('{"who": "you"}').input == {"who": "you"}
    assert parse_input("[1, 2]").input == [1, 2]
    assert parse_input('"text"').input == "text"
    assert parse_input('{"input": 1}').input == {"input": 1}  # no context keys: not a wrapper


def test_a_context_wrapper_is_unwrapped() -> None:
    context = parse_input(
        '{"input": {"who": "you"}, "enteredTime": "2026-11-29T12:00:00.123Z", "retryCount": 2}'
    )
    assert context.input == {"who": "you"}
    assert context.retry_count == 2
    assert context.entered_time is not None
    assert context.entered_time.isoformat() == "2026-11-29T12:00:00.123000+00:00"


def test_an_object_with_other_keys_is_not_taken_for_a_wrapper() -> None:
    raw = '{"input": 1, "retryCount": 0, "other": true}'
    assert parse_input(raw).input == {"input": 1, "retryCount": 0, "other": True}
