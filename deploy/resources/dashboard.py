"""The CloudWatch dashboard, rendered from dashboards/cloudwatch/fleet.json.

The package reaches the template through ``cloudwatch-dashboard.json``, a link to it that
installs with the package (a wheel holds a copy), so that an installed deploy has it too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deploy.aws import absent_on
from deploy.names import METRICS_NAMESPACE, Names
from deploy.resources.base import Change, Context, Resource, State

TEMPLATE = Path(__file__).with_name("cloudwatch-dashboard.json")
ACTIVITY = "${ActivityArn}"


def _mentions(value: Any, needle: str) -> bool:
    if isinstance(value, str):
        return needle in value
    if isinstance(value, list):
        return any(_mentions(v, needle) for v in value)
    if isinstance(value, dict):
        return any(_mentions(v, needle) for v in value.values())
    return False


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, replacement in values.items():
            value = value.replace(key, replacement)
        return value
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    return value


def render(template: dict[str, Any], names: Names) -> dict[str, Any]:
    """The dashboard body for one stack.

    Placeholders ``${Region}``, ``${StateMachineArn}``, ``${Cluster}``, ``${Service}`` and
    ``${Namespace}`` are filled everywhere; each metric line that mentions ``${ActivityArn}``
    is repeated once per activity (``${ActivityName}`` in it becomes that activity's name).
    """
    common = {
        "${Region}": names.region,
        "${StateMachineArn}": names.state_machine_arn,
        "${Cluster}": names.cluster,
        "${Service}": names.service,
        "${Namespace}": METRICS_NAMESPACE,
    }
    per_activity = [
        {ACTIVITY: names.activity_arn(a.name), "${ActivityName}": a.name}
        for a in names.stack.activities
    ]
    body = json.loads(json.dumps(template))
    for widget in body.get("widgets", []):
        properties = widget.get("properties", {})
        lines = properties.get("metrics")
        if not isinstance(lines, list):
            continue
        expanded: list[Any] = []
        for line in lines:
            if _mentions(line, ACTIVITY):
                expanded += [_fill(line, values) for values in per_activity]
            else:
                expanded.append(line)
        properties["metrics"] = expanded
    first = per_activity[0]
    return dict(_fill(_fill(body, common), first))


class Dashboard(Resource):
    """The stack's CloudWatch dashboard (dashboards cannot be tagged; owned by name)."""

    kind = "CloudWatch dashboard"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx, ctx.names.dashboard)

    async def read(self) -> State | None:
        cloudwatch = await self.aws.client("cloudwatch")
        found = await absent_on(
            ("ResourceNotFound", "ResourceNotFoundException"),
            cloudwatch.get_dashboard(DashboardName=self.name),
        )
        if found is None:
            return None
        return {"body": json.loads(found["DashboardBody"])}

    def desired(self) -> State | None:
        if self.ctx.destroying:
            return None
        template = json.loads(TEMPLATE.read_text(encoding="utf-8"))
        return {"body": render(template, self.names)}

    async def create(self, desired: State) -> None:
        cloudwatch = await self.aws.client("cloudwatch")
        await cloudwatch.put_dashboard(
            DashboardName=self.name, DashboardBody=json.dumps(desired["body"])
        )

    async def update(self, current: State, desired: State, changes: list[Change]) -> None:
        await self.create(desired)

    async def delete(self, current: State) -> None:
        cloudwatch = await self.aws.client("cloudwatch")
        await cloudwatch.delete_dashboards(DashboardNames=[self.name])
