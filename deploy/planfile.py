"""Saved plans: ``plan --out`` records inputs and steps; ``apply --plan`` applies exactly those.

``apply --plan FILE`` refuses if what is deployed has changed since the plan was saved.

The file holds the validated stack (with ``--set`` overrides applied), the state machine
definition and the image reference (pinned by digest) that the plan was made with, so that a
later push or an edit of the stack file does not change what the saved plan applies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from deploy.errors import DeployError
from deploy.resources.base import Context, Step
from deploy.stack import Stack

FORMAT = "sfn-fleet-plan/1"


@dataclass(frozen=True)
class SavedPlan:
    """A plan read back from its file."""

    stack: Stack
    account: str
    definition: dict[str, Any]
    image: str
    steps: list[dict[str, Any]]


def save(path: Path, ctx: Context, steps: list[Step]) -> None:
    """Write the plan for ``ctx`` and its ``steps`` to ``path``."""
    body = {
        "format": FORMAT,
        "stack": ctx.stack.model_dump(mode="json"),
        "account": ctx.names.account,
        "definition": ctx.definition,
        "image": ctx.image,
        "steps": [s.to_json() for s in steps],
    }
    path.write_text(json.dumps(body, indent=2, sort_keys=True, default=str) + "\n")


def load(path: Path) -> SavedPlan:
    """Read a saved plan; raises DeployError for a file that is not one."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DeployError(f"cannot read plan file {path}: {exc.strerror}") from None
    except ValueError:
        raise DeployError(f"{path} is not a saved plan (not JSON)") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise DeployError(f"{path} is not a saved plan (expected format {FORMAT})")
    try:
        stack = Stack.model_validate(body["stack"])
    except (KeyError, ValidationError) as exc:
        raise DeployError(f"{path}: the saved stack does not validate: {exc}") from None
    return SavedPlan(
        stack=stack,
        account=str(body.get("account", "")),
        definition=dict(body.get("definition", {})),
        image=str(body.get("image", "")),
        steps=list(body.get("steps", [])),
    )


def differences(saved: list[dict[str, Any]], now: list[Step]) -> list[str]:
    """Where the steps planned now differ from the saved ones (``kind 'name'`` lines)."""
    current = {(s.kind, s.name): s.to_json() for s in now}
    before = {(s["kind"], s["name"]): s for s in saved}
    out = []
    for key in sorted(set(current) | set(before)):
        if _comparable(current.get(key)) != _comparable(before.get(key)):
            was = (before.get(key) or {}).get("action", "nothing")
            is_now = (current.get(key) or {}).get("action", "nothing")
            out.append(f"{key[0]} '{key[1]}': planned {was}, now {is_now}")
    return out


def _comparable(step: dict[str, Any] | None) -> Any:
    if step is None or step.get("action") in ("absent", None):
        return None
    # JSON round trip: tuples and lists compare alike; the file's keys are sorted, so the
    # changes are compared in field order.
    out = json.loads(json.dumps(step, sort_keys=True, default=str))
    out["changes"] = sorted(out.get("changes", []), key=lambda c: str(c.get("field")))
    return out
