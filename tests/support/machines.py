"""State machines for tests, built one way for every package: definitions and their creation.

``one_task`` is the usual shape, one Task state on an activity; ``create_machine`` creates any
definition; ``machine_with_task`` does both with a new activity. The worker tests' own
``support.worker.create_machine`` adds their retriers and context on top.
"""

from __future__ import annotations

import json
from typing import Any

#: The role every test state machine names (the local endpoint does not assume it).
ROLE = "arn:aws:iam::123456789012:role/test-role"


def task_state(activity_arn: str, **fields: Any) -> dict[str, Any]:
    """A Task state on ``activity_arn`` that ends the execution; ``fields`` are merged in."""
    return {"Type": "Task", "Resource": activity_arn, "End": True, **fields}


def one_task(activity_arn: str, state_name: str = "Work", **fields: Any) -> dict[str, Any]:
    """A definition of one Task state on ``activity_arn`` (``fields`` merged into the state)."""
    return {"StartAt": state_name, "States": {state_name: task_state(activity_arn, **fields)}}


async def create_machine(sfn: Any, definition: dict[str, Any] | str, name: str) -> str:
    """Create a state machine named ``name`` from a definition (dict or JSON); return its ARN."""
    text = definition if isinstance(definition, str) else json.dumps(definition)
    answer = await sfn.create_state_machine(name=name, definition=text, roleArn=ROLE)
    return str(answer["stateMachineArn"])


async def machine_with_task(sfn: Any, activity: str, name: str, **fields: Any) -> tuple[str, str]:
    """Create activity ``activity`` and a one-Task machine ``name`` on it; return both ARNs."""
    activity_arn = str((await sfn.create_activity(name=activity))["activityArn"])
    return activity_arn, await create_machine(sfn, one_task(activity_arn, **fields), name)
