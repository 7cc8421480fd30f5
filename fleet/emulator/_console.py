"""The local console: web pages of the endpoint's state machines, executions and histories.

``GET /console`` lists state machines and recent executions with their status;
``/console/state-machine?arn=`` draws a state machine and lists its executions;
``/console/execution?arn=`` shows an execution, its history as a timeline, and the state
machine as a graph with the states it passed. Pages are rendered on the server from the same
operations the API serves, as plain HTML with inline SVG and CSS: no script, nothing fetched
from the network. Pages of something still running refresh themselves every two seconds.
"""

from __future__ import annotations

import json
from collections import deque
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

from fleet._timeline import IN_STATE, rows, visited
from fleet.emulator._call import Call
from fleet.emulator._errors import ApiError

if TYPE_CHECKING:
    from fleet.emulator._http import HttpConnection
    from fleet.emulator._runtime import Runtime

PREFIX = "/console"
_RECENT = 50
_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:70em;color:#222;padding:0 1em}
a{color:#1f5fa8;text-decoration:none}a:hover{text-decoration:underline}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.4em 0}td,th{padding:.2em .7em;text-align:left;
border-bottom:1px solid #eee;vertical-align:top}
.status{font-weight:600;padding:0 .4em;border-radius:3px}
.SUCCEEDED{color:#1e7b34}.FAILED,.TIMED_OUT{color:#b3261e}.ABORTED{color:#8a5a00}
.RUNNING{color:#1f5fa8}pre{background:#f6f6f6;padding:.5em;white-space:pre-wrap;margin:0}
svg{background:#fbfbfb;border:1px solid #eee}svg text{font:12px sans-serif}
.state rect{fill:#f0f0f0;stroke:#aaa}.state.visited rect{fill:#d8f0dc;stroke:#3a9d52}
.state.current rect{fill:#dbe8fb;stroke:#1f5fa8;stroke-width:3}
.state.failed rect{fill:#fbdcdc;stroke:#b3261e;stroke-width:3}
.edge{stroke:#999;fill:none;marker-end:url(#arrow)}.edge.taken{stroke:#3a9d52;stroke-width:2}
.bar{fill:#6ea8dc}.bar.open{fill:#9ec5ec}
"""


class _Quiet:
    """A responder for in-process calls: never closed, never answered on the wire."""

    closed = False
    poll: Any = None

    def respond(self, status: int, body: bytes) -> None:  # pragma: no cover - never called
        """Unused: in-process operations return their answer."""


def _scope(region: str) -> str:
    """An Authorization header whose credential scope names ``region``."""
    return f"AWS4-HMAC-SHA256 Credential=console/20260101/{region}/states/aws4_request"


class _Reader:
    """Read-only API calls into the endpoint's own operations, as any client would see them."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def call(self, operation: str, region: str = "us-east-1", **params: Any) -> Any:
        from fleet.emulator._api import OPERATIONS

        return OPERATIONS[operation](Call(self.runtime, params, _scope(region), _Quiet()))

    def regions(self) -> list[str]:
        return sorted({arn.split(":")[3] for arn in self.runtime.store.machines})

    def machines(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for region in self.regions():
            found += self.call("ListStateMachines", region, maxResults=1000)["stateMachines"]
        return found

    def executions(self, machine_arn: str, limit: int = 1000) -> list[dict[str, Any]]:
        region = machine_arn.split(":")[3]
        page = self.call("ListExecutions", region, stateMachineArn=machine_arn, maxResults=limit)
        return list(page["executions"])

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        region = execution_arn.split(":")[3]
        events: list[dict[str, Any]] = []
        params: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = self.call("GetExecutionHistory", region, **params)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            params["nextToken"] = page["nextToken"]


def handle(runtime: Runtime, conn: HttpConnection, method: bytes, path: str) -> None:
    """Serve one console request; never raises."""
    url = urlsplit(path)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    route = url.path.rstrip("/")
    reader = _Reader(runtime)
    try:
        if method != b"GET":
            raise LookupError("the console only answers GET")
        if route == PREFIX:
            page = _index(reader)
        elif route == f"{PREFIX}/state-machine" and "arn" in query:
            page = _machine(reader, query["arn"])
        elif route == f"{PREFIX}/execution" and "arn" in query:
            page = _execution(reader, query["arn"])
        else:
            raise LookupError(f"no console page {url.path}")
    except (LookupError, ApiError) as exc:
        message = exc.message if isinstance(exc, ApiError) else str(exc)
        body = _page("Not found", f"<p>{escape(message)}</p><p><a href={PREFIX}>Console</a></p>")
        conn.respond(404, body.encode(), content_type=b"text/html; charset=utf-8")
        return
    conn.respond(200, page.encode(), content_type=b"text/html; charset=utf-8")


def _page(title: str, body: str, refresh: bool = False) -> str:
    meta = "<meta http-equiv=refresh content=2>" if refresh else ""
    return (
        # An empty inline icon: the browser would otherwise ask the endpoint for /favicon.ico.
        f"<!doctype html><html lang=en><head><meta charset=utf-8>{meta}"
        "<link rel=icon href='data:,'>"
        f"<title>{escape(title)} - fleet console</title><style>{_STYLE}</style></head><body>"
        f"<p><a href={PREFIX}>fleet console</a></p>{body}</body></html>"
    )


def _status(status: str) -> str:
    return f"<span class='status {escape(status)}'>{escape(status)}</span>"


def _link(kind: str, arn: str, text: str) -> str:
    return f"<a href='{PREFIX}/{kind}?arn={quote(arn, safe='')}'>{escape(text)}</a>"


def _when(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _duration(item: dict[str, Any]) -> str:
    stop = item.get("stopDate")
    return f"{stop - item['startDate']:.3f} s" if stop is not None else "running"


def _executions_table(items: list[dict[str, Any]], machine_names: dict[str, str]) -> str:
    if not items:
        return "<p>No executions yet.</p>"
    head = "<tr><th>execution</th><th>state machine</th><th>status</th><th>started (UTC)</th>"
    out = [f"<table class=executions>{head}<th>duration</th></tr>"]
    for item in items:
        machine = item["stateMachineArn"]
        out.append(
            f"<tr data-status='{escape(item['status'])}'>"
            f"<td>{_link('execution', item['executionArn'], item['name'])}</td>"
            f"<td>{_link('state-machine', machine, machine_names.get(machine, machine))}</td>"
            f"<td>{_status(item['status'])}</td><td>{_when(item['startDate'])}</td>"
            f"<td>{_duration(item)}</td></tr>"
        )
    out.append("</table>")
    return "".join(out)


def _index(reader: _Reader) -> str:
    machines = reader.machines()
    names = {m["stateMachineArn"]: m["name"] for m in machines}
    recent: list[dict[str, Any]] = []
    out = ["<h1>State machines</h1>"]
    if not machines:
        out.append("<p>No state machines yet.</p>")
    else:
        out.append("<table class=machines><tr><th>name</th><th>region</th><th>executions</th>"
                   "</tr>")  # fmt: skip
        for m in machines:
            executions = reader.executions(m["stateMachineArn"])
            recent += executions[:_RECENT]
            counts: dict[str, int] = {}
            for item in executions:
                counts[item["status"]] = counts.get(item["status"], 0) + 1
            summary = ", ".join(f"{_status(k)} {v}" for k, v in sorted(counts.items())) or "none"
            region = m["stateMachineArn"].split(":")[3]
            out.append(f"<tr><td>{_link('state-machine', m['stateMachineArn'], m['name'])}</td>"
                       f"<td>{escape(region)}</td><td>{summary}</td></tr>")  # fmt: skip
        out.append("</table>")
    recent.sort(key=lambda item: item["startDate"], reverse=True)
    out.append("<h2>Recent executions</h2>")
    out.append(_executions_table(recent[:_RECENT], names))
    running = any(item["status"] == "RUNNING" for item in recent)
    return _page("State machines", "".join(out), refresh=running)


def _machine(reader: _Reader, arn: str) -> str:
    region = arn.split(":")[3] if arn.count(":") >= 6 else "us-east-1"
    described = reader.call("DescribeStateMachine", region, stateMachineArn=arn)
    executions = reader.executions(arn, limit=100)
    body = (
        f"<h1>State machine {escape(described['name'])}</h1><p>{escape(arn)}</p>"
        f"<h2>Graph</h2>{graph(described['definition'])}"
        f"<h2>Executions</h2>{_executions_table(executions, {arn: described['name']})}"
    )
    running = any(item["status"] == "RUNNING" for item in executions)
    return _page(described["name"], body, refresh=running)


def _execution(reader: _Reader, arn: str) -> str:
    region = arn.split(":")[3] if arn.count(":") >= 7 else "us-east-1"
    described = reader.call("DescribeExecution", region, executionArn=arn)
    machine = reader.call(
        "DescribeStateMachine", region, stateMachineArn=described["stateMachineArn"]
    )
    events = reader.history(arn)
    passed, current, failed = visited(events)
    rows_html = [
        ("status", _status(described["status"])),
        ("state machine", _link("state-machine", machine["stateMachineArn"], machine["name"])),
        ("started (UTC)", _when(described["startDate"])),
        ("duration", _duration(described)),
    ]
    for key in ("input", "output", "error", "cause"):
        if described.get(key) is not None:
            rows_html.append((key, f"<pre class={key}>{escape(str(described[key]))}</pre>"))
    summary = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows_html)
    body = (
        f"<h1>Execution {escape(described['name'])}</h1><p>{escape(arn)}</p>"
        f"<table class=summary>{summary}</table>"
        f"<h2>State machine</h2>{graph(machine['definition'], passed, current, failed)}"
        f"<h2>Timeline</h2>{_gantt(events)}{_history_table(events)}"
    )
    return _page(described["name"], body, refresh=described["status"] == "RUNNING")


def _history_table(events: list[dict[str, Any]]) -> str:
    out = ["<table class=history><tr><th>#</th><th>time</th><th>event</th><th>state</th>"
           "<th>durations</th><th>error and cause</th></tr>"]  # fmt: skip
    for row in rows(events):
        durations = ", ".join(f"{k} {v:.3f} s" for k, v in row.durations.items())
        problem = ""
        if row.error:
            problem = f"<b>{escape(row.error)}</b>"
        if row.cause:
            problem += f"<pre>{escape(row.cause)}</pre>"
        out.append(
            f"<tr class=event data-type='{escape(row.type)}'><td>{row.id}</td>"
            f"<td>+{row.offset:.3f} s</td><td>{escape(row.type)}</td><td>{escape(row.state)}</td>"
            f"<td>{escape(durations)}</td><td>{problem}</td></tr>"
        )
    out.append("</table>")
    return "".join(out)


def _gantt(events: list[dict[str, Any]]) -> str:
    """Each visit of a state as a bar on a time axis."""
    bars: list[tuple[str, float, float, bool]] = []
    entered: dict[str, float] = {}
    end = 0.0
    for row in rows(events):
        end = max(end, row.offset)
        if row.type.endswith("StateEntered"):
            entered[row.state] = row.offset
        elif IN_STATE in row.durations:
            bars.append((row.state, row.offset - row.durations[IN_STATE], row.offset, False))
            entered.pop(row.state, None)
    bars += [(state, start, end, True) for state, start in entered.items()]
    if not bars:
        return ""
    width, left, line = 760, 160, 22
    span = max(end, 1e-3)
    height = line * len(bars) + 30
    out = [f"<svg class=gantt xmlns='http://www.w3.org/2000/svg' width='{width}' "
           f"height={height} viewBox='0 0 {width} {height}'>"]  # fmt: skip
    for i, (state, start, stop, still_open) in enumerate(bars):
        x = left + (width - left - 20) * start / span
        w = max(2.0, (width - left - 20) * (stop - start) / span)
        y = 10 + i * line
        out.append(
            f"<text x='8' y='{y + 14}'>{escape(state[:22])}</text>"
            f"<rect class='bar{' open' if still_open else ''}' x='{x:.1f}' y='{y}' "
            f"width={w:.1f} height='{line - 6}'><title>{escape(state)}: "
            f"{stop - start:.3f} s</title></rect>"
        )
    out.append(
        f"<text x='{width - 20}' y='{height - 4}' text-anchor='end'>{span:.3f} s</text></svg>"
    )
    return "".join(out)


def _targets(state: dict[str, Any]) -> list[str]:
    """The states a state can go to next."""
    out = [state["Next"]] if isinstance(state.get("Next"), str) else []
    for choice in state.get("Choices", []) or []:
        if isinstance(choice, dict) and isinstance(choice.get("Next"), str):
            out.append(choice["Next"])
    if isinstance(state.get("Default"), str):
        out.append(state["Default"])
    for catcher in state.get("Catch", []) or []:
        if isinstance(catcher, dict) and isinstance(catcher.get("Next"), str):
            out.append(catcher["Next"])
    return list(dict.fromkeys(out))


def graph(
    definition_text: str,
    passed: list[str] | None = None,
    current: str | None = None,
    failed: str | None = None,
) -> str:
    """The state machine as an SVG graph, top to bottom in layers from StartAt.

    States passed are green, the one running now blue, the one the execution failed in red;
    edges between two states passed are drawn green. Nested branches (Parallel, Map) are
    drawn as their one state.
    """
    try:
        definition = json.loads(definition_text)
        states: dict[str, Any] = definition["States"]
        start: str = definition["StartAt"]
    except (ValueError, KeyError, TypeError):
        return "<p>The definition cannot be drawn.</p>"
    passed = passed or []
    layer: dict[str, int] = {start: 0}
    queue = deque([start])
    while queue:
        name = queue.popleft()
        for target in _targets(states.get(name, {})):
            if target in states and target not in layer:
                layer[target] = layer[name] + 1
                queue.append(target)
    deepest = max(layer.values(), default=0)
    for name in states:  # unreachable states go below the rest
        if name not in layer:
            deepest += 1
            layer[name] = deepest
    rows_of: dict[int, list[str]] = {}
    for name, depth in layer.items():
        rows_of.setdefault(depth, []).append(name)
    box_w, box_h, gap_x, gap_y = 170, 40, 30, 50
    widest = max(len(names) for names in rows_of.values())
    width = max(widest * (box_w + gap_x) + gap_x, 400)
    height = (max(rows_of) + 1) * (box_h + gap_y) + gap_y
    where: dict[str, tuple[float, float]] = {}
    for depth, names in rows_of.items():
        span = len(names) * (box_w + gap_x) - gap_x
        for i, name in enumerate(names):
            x = (width - span) / 2 + i * (box_w + gap_x)
            where[name] = (x, gap_y / 2 + depth * (box_h + gap_y))
    out = [
        f"<svg class=graph xmlns='http://www.w3.org/2000/svg' width='{width:.0f}' "
        f"height={height:.0f} viewBox='0 0 {width:.0f} {height:.0f}'>"
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='7' "
        "markerHeight=7 orient='auto-start-reverse'><path d='M0,0L10,5L0,10z' fill='#999'/>"
        "</marker></defs>"
    ]
    for name, state in states.items():
        x, y = where[name]
        for target in _targets(state):
            if target not in where:
                continue
            tx, ty = where[target]
            taken = " taken" if name in passed and target in passed else ""
            if ty > y:  # down: bottom to top
                x1, y1, x2, y2 = x + box_w / 2, y + box_h, tx + box_w / 2, ty
            elif ty < y:  # back up: top to bottom
                x1, y1, x2, y2 = x + box_w / 2, y, tx + box_w / 2, ty + box_h
            else:  # across: side to side
                right = tx > x
                x1, x2 = (x + box_w, tx) if right else (x, tx + box_w)
                y1 = y2 = y + box_h / 2
            out.append(
                f"<line class='edge{taken}' data-from='{escape(name)}' "
                f"data-to='{escape(target)}' x1='{x1:.1f}' y1='{y1:.1f}' x2='{x2:.1f}' "
                f"y2='{y2:.1f}'/>"
            )
    for name, state in states.items():
        x, y = where[name]
        classes = ["state"]
        if name in passed:
            classes.append("visited")
        if name == current:
            classes.append("current")
        if name == failed:
            classes.append("failed")
        kind = state.get("Type", "?") if isinstance(state, dict) else "?"
        out.append(
            f"<g class='{' '.join(classes)}' data-state='{escape(name)}'>"
            f"<rect x='{x:.1f}' y='{y:.1f}' width='{box_w}' height='{box_h}' rx='8'/>"
            f"<text x='{x + box_w / 2:.1f}' y='{y + 17:.1f}' text-anchor='middle'>"
            f"{escape(name[:24])}</text><text x='{x + box_w / 2:.1f}' y='{y + 32:.1f}' "
            f"text-anchor=middle fill='#777'>{escape(str(kind))}</text></g>"
        )
    out.append("</svg>")
    return "".join(out)
