"""Mock configuration in Step Functions Local's format: canned answers for service Tasks.

    {"StateMachines": {"<machine name>": {"TestCases": {"<case>": {"<state>": "<response>"}}}},
     "MockedResponses": {"<response>": {"0": {"Return": {...}},
                                        "1-2": {"Throw": {"Error": "...", "Cause": "..."}}}}}

An execution picks a test case with `<stateMachineArn>#<case>` in StartExecution. Each key of a
mocked response is an invocation number (or an inclusive range) of that state in the execution,
counting from 0, so retries can fail before they succeed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_KEY = re.compile(r"(\d+)(?:-(\d+))?")


class MockConfigError(ValueError):
    """The mock configuration file is missing or malformed; the message says where."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What a mocked state returns (`output`) or throws (`error`, `cause`)."""

    output: Any = None
    error: str | None = None
    cause: str | None = None
    throws: bool = False


class MockConfig:
    """A loaded, validated mock configuration."""

    def __init__(self, raw: Any, source: str = "mock configuration") -> None:
        self._cases: dict[str, dict[str, dict[str, str]]] = {}
        self._responses: dict[str, list[tuple[int, int, Answer]]] = {}
        if not isinstance(raw, dict):
            raise MockConfigError(f"{source}: the top level must be a JSON object")
        machines = raw.get("StateMachines", {})
        responses = raw.get("MockedResponses", {})
        if not isinstance(machines, dict) or not isinstance(responses, dict):
            raise MockConfigError(f"{source}: StateMachines and MockedResponses must be objects")
        for name, body in responses.items():
            self._responses[name] = _response(body, f"{source}: MockedResponses.{name}")
        for machine, body in machines.items():
            cases = body.get("TestCases") if isinstance(body, dict) else None
            if not isinstance(cases, dict):
                raise MockConfigError(f"{source}: StateMachines.{machine}.TestCases is missing")
            for case, states in cases.items():
                where = f"{source}: StateMachines.{machine}.TestCases.{case}"
                if not isinstance(states, dict) or not all(
                    isinstance(v, str) for v in states.values()
                ):
                    raise MockConfigError(f"{where} must map state names to response names")
                for state, response in states.items():
                    if response not in self._responses:
                        raise MockConfigError(
                            f"{where}.{state} names an unknown mocked response {response!r}"
                        )
                self._cases.setdefault(machine, {})[case] = dict(states)

    @classmethod
    def load(cls, path: str) -> MockConfig:
        """Read and validate a mock configuration file. Raises MockConfigError."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise MockConfigError(f"cannot read the mock configuration {path}: {exc}") from None
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise MockConfigError(f"{path} is not valid JSON: {exc}") from None
        return cls(raw, path)

    def has_case(self, machine: str, case: str) -> bool:
        """Whether `machine` (a state machine name) has the test case `case`."""
        return case in self._cases.get(machine, {})

    def answer(self, machine: str, case: str, state: str, invocation: int) -> Answer | str:
        """The mocked answer of `state`'s invocation number `invocation`, or why there is none."""
        response = self._cases.get(machine, {}).get(case, {}).get(state)
        if response is None:
            return f"the test case '{case}' has no mocked response for the state '{state}'"
        for low, high, answer in self._responses[response]:
            if low <= invocation <= high:
                return answer
        return f"the mocked response '{response}' has no answer for invocation {invocation}"


def _response(body: Any, where: str) -> list[tuple[int, int, Answer]]:
    if not isinstance(body, dict) or not body:
        raise MockConfigError(f"{where} must be an object of invocation numbers")
    out = []
    for key, value in body.items():
        match = _KEY.fullmatch(key)
        if match is None:
            raise MockConfigError(f"{where}: {key!r} is not an invocation number or range")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low
        if (
            not isinstance(value, dict)
            or len(value) != 1
            or next(iter(value))
            not in (
                "Return",
                "Throw",
            )
        ):
            raise MockConfigError(f"{where}.{key} must hold exactly one of Return or Throw")
        if "Return" in value:
            out.append((low, high, Answer(output=value["Return"])))
            continue
        thrown = value["Throw"]
        if not isinstance(thrown, dict) or not isinstance(thrown.get("Error"), str):
            raise MockConfigError(f"{where}.{key}.Throw needs an Error string")
        cause = thrown.get("Cause")
        out.append((low, high, Answer(error=thrown["Error"], cause=cause, throws=True)))
    return out
