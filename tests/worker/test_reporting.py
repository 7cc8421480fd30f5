"""What a handler's outcome turns into, checked against Step Functions' limits."""

import json

import pytest

from fleet import TaskFailure
from fleet._limits import MAX_CAUSE_CHARS, MAX_ERROR_CHARS, MAX_OUTPUT_BYTES, cut, cut_cause
from fleet._reporting import from_exception, from_result


def test_a_result_is_sent_as_compact_json() -> None:
    report = from_result({"greeting": "Hello, wörld", "n": [1, 2]})
    assert report.outcome == "succeeded"
    assert report.operation == "SendTaskSuccess"
    assert json.loads(report.output or "") == {"greeting": "Hello, wörld", "n": [1, 2]}


@pytest.mark.parametrize("value", [{1, 2}, object(), float("nan"), {"when": b"bytes"}])
def test_a_result_that_is_not_json_fails_with_invalid_output(value: object) -> None:
    report = from_result(value)
    assert (report.outcome, report.error) == ("failed", "Fleet.InvalidOutput")
    assert report.operation == "SendTaskFailure"
    assert report.cause


def test_a_result_over_256_kib_fails_with_output_too_large() -> None:
    exactly = "x" * (MAX_OUTPUT_BYTES - 2)  # the JSON quotes make it exactly the limit
    assert from_result(exactly).outcome == "succeeded"
    report = from_result("x" * (MAX_OUTPUT_BYTES - 1))
    assert report.error == "Fleet.OutputTooLarge"
    assert "262,145 bytes" in (report.cause or "")


def test_multibyte_output_is_measured_in_utf8_bytes() -> None:
    # 100,000 three-byte characters are 300,000 bytes although only 100,002 characters.
    assert from_result("€" * 100_000).error == "Fleet.OutputTooLarge"


def test_an_exception_reports_its_class_name_message_and_traceback() -> None:
    def inner() -> None:
        raise ValueError("bad value 42")

    try:
        inner()
    except ValueError as exc:
        report = from_exception(exc)
    assert report.error == "ValueError"
    assert report.cause is not None
    assert report.cause.startswith("ValueError: bad value 42")
    assert "Traceback (most recent call last)" in report.cause
    assert "in inner" in report.cause


def test_a_huge_exception_message_keeps_the_cause_within_limits_and_the_traceback_end() -> None:
    class VeryLongNamedError(Exception):
        pass

    VeryLongNamedError.__name__ = "E" * 400
    try:
        raise VeryLongNamedError("m" * 100_000)
    except Exception as exc:
        report = from_exception(exc)
    assert report.error is not None
    assert len(report.error) <= MAX_ERROR_CHARS
    assert report.cause is not None
    assert len(report.cause) <= MAX_CAUSE_CHARS
    assert len(report.cause.encode()) <= MAX_CAUSE_CHARS
    assert report.cause.startswith("E" * 10)
    assert "test_a_huge_exception_message" in report.cause  # the failing frame survived


def test_task_failure_names_its_own_error_cut_to_limits() -> None:
    report = from_exception(TaskFailure("Custom.Error" * 100, "why " * 20_000))
    assert report.error is not None
    assert report.error.startswith("Custom.Error")
    assert len(report.error) <= MAX_ERROR_CHARS
    assert report.cause is not None
    assert len(report.cause) <= MAX_CAUSE_CHARS


def test_cut_never_splits_a_character_or_exceeds_bytes() -> None:
    text = "ä" * 300
    out = cut(text, 256)
    assert len(out.encode()) <= 256
    out.encode().decode()  # valid UTF-8
    assert cut("short", 256) == "short"


def test_cut_cause_keeps_both_ends() -> None:
    cause = cut_cause("M" * 50_000, "T" * 50_000 + "LAST LINE", 1000)
    assert len(cause) <= 1000
    assert cause.startswith("M")
    assert cause.endswith("LAST LINE")


def deeply_nested(depth: int = 100_000) -> list[object]:
    value: list[object] = []
    for _ in range(depth):
        value = [value]
    return value


class ItemsRaise(dict[str, int]):
    def items(self):  # type: ignore[override]
        raise RuntimeError("items() is broken")


class StrRaises(Exception):
    def __str__(self) -> str:
        raise ValueError("no message for you")


@pytest.mark.parametrize(
    "value",
    [deeply_nested(), ItemsRaise(a=1), {"nested": ItemsRaise(a=1)}],
    ids=["deeply-nested", "items-raises", "items-raises-inside"],
)
def test_any_failure_to_encode_a_result_is_a_reported_failure(value: object) -> None:
    report = from_result(value)
    assert (report.outcome, report.error) == ("failed", "Fleet.InvalidOutput")
    assert "cannot be encoded as JSON" in (report.cause or "")


def test_an_exception_whose_message_raises_is_still_reported() -> None:
    try:
        raise StrRaises()
    except StrRaises as exc:
        report = from_exception(exc)
    assert (report.outcome, report.error) == ("failed", "StrRaises")
    assert "str() raised ValueError" in (report.cause or "")


def test_a_chained_exception_whose_message_raises_is_still_reported() -> None:
    try:
        try:
            raise StrRaises()
        except StrRaises:
            raise KeyError("outer") from None
    except KeyError as exc:
        exc.__context__ = StrRaises()
        report = from_exception(exc)
    assert report.error == "KeyError"


def test_a_task_failure_with_names_that_are_not_text_is_still_reported() -> None:
    report = from_exception(TaskFailure(404, {"why": "gone"}))  # type: ignore[arg-type]
    assert report.error == "404"
    assert report.cause == "{'why': 'gone'}"
