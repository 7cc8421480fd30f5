"""Whatever JSON a state machine hands over reaches the handler intact: any JSON value, the
largest input Step Functions allows, and text in every script."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from reliability_support import HEARTBEAT_REAL, RETRY_REAL, machine, show, stop
from support.faults import assert_nothing_lost
from support.fleet_process import fleet_process
from support.worker import client, unique, wait_done

ECHO = """
import hashlib
import json

from fleet import Fleet, Task

app = Fleet()


@app.activity({name!r})
async def echo(task: Task) -> dict:
    text = json.dumps(task.input, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return {{
        "type": type(task.input).__name__,
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "head": text[:40],
    }}
"""

MAX_INPUT_BYTES = 262_144
UNICODE = {
    "latin": "Zoë, Ångström, façade",
    "scripts": "日本語 · 한국어 · Ελληνικά · русский · עברית · العربية · हिन्दी",
    "astral": "\U0001f680\U0001f9ea \U0001d11e \U0001f469\U0001f3fd\u200d\U0001f4bb",
    "combining": "e\u0301 n\u0303 \u200d\u200b",
    "controls": "tab\there\nnewline\u0000nul\u007f",
    "key ✓": ["clé", {"ключ": "значение"}],
}


def largest_input() -> str:
    """An input of exactly 256 KiB in UTF-8, most of it three-byte characters."""
    head = '{"blob":"'
    room = MAX_INPUT_BYTES - len(head) - len('"}')
    text = "€" * (room // 3) + "x" * (room % 3)
    body = head + text + '"}'
    assert len(body.encode()) == MAX_INPUT_BYTES
    return body


def expected(value: Any) -> dict[str, Any]:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return {
        "type": type(value).__name__,
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "head": text[:40],
    }


async def test_any_json_value_any_size_any_script_reaches_the_handler(
    tmp_path: Path, make_endpoint: Any, issued_tokens: list[str]
) -> None:
    name = unique("Input")
    inputs = [
        json.dumps(v, ensure_ascii=False)
        for v in ([3, "two", 1.5], "just a string", 42, -0.25, None, True, {}, [], "", UNICODE)
    ]
    inputs.append(largest_input())
    async with make_endpoint() as emu, client(emu.endpoint_url) as sfn:
        # No context wrapper: the task's input is the execution's input, byte for byte.
        arn = await machine(sfn, name, context=False)
        runs = []
        for text in inputs:
            started = await sfn.start_execution(stateMachineArn=arn, input=text)
            runs.append(started["executionArn"])
        async with fleet_process(
            tmp_path, ECHO.format(name=name), emu.endpoint_url,
        ) as worker:  # fmt: skip
            await worker.wait_ready()
            done = await wait_done(sfn, runs)
            report = await stop(worker)
        ledger = await assert_nothing_lost(
            sfn,
            runs,
            [report],
            heartbeat_seconds=HEARTBEAT_REAL,
            retry_seconds=RETRY_REAL,
            tokens=issued_tokens,
        )
    assert ledger.retries == 0
    for text, arn in zip(inputs, runs, strict=True):
        assert json.loads(done[arn]["output"]) == expected(json.loads(text)), text[:60]
    show("input", {**ledger.summary(), "largest_input_bytes": MAX_INPUT_BYTES})
