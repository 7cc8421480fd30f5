"""The load test report as one self-contained HTML page: tables and inline SVG plots.

No script, stylesheet or font is fetched: the page opens from a file, offline, anywhere.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fleet._loadtest import Report

_W, _H, _PAD = 720, 220, 44
_COLOURS = {"started": "#4c78a8", "succeeded": "#54a24b", "failed": "#e45756",
            "p50_seconds": "#4c78a8", "p99_seconds": "#f58518"}  # fmt: skip
_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.2em .8em;text-align:right;
border-bottom:1px solid #eee}th:first-child,td:first-child{text-align:left}
.pass{color:#2a7d2a;font-weight:600}.fail{color:#c0392b;font-weight:600}
.warn{background:#fff6d6;padding:.4em .8em;border-left:4px solid #e0b000}
svg{background:#fafafa;border:1px solid #eee}svg text{font:11px sans-serif;fill:#555}
"""


def render(report: Report) -> str:
    """The report as a complete HTML document."""
    verdict = "PASSED" if report.passed else "FAILED"
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>fleet loadtest: {verdict}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Load test <span class={verdict[:4].lower()}>{verdict}</span></h1>",
        f"<p>{escape(report.state_machine_arn)}</p>",
        _table(
            ["measure", "value"],
            [
                ["executions", report.executions],
                ["start rate asked", f"{report.rate_asked:g}/s"],
                ["start rate achieved", f"{report.rate_achieved:g}/s"],
                ["throughput (completions)", f"{report.throughput_per_second:g}/s"],
                ["duration", f"{report.duration_seconds:g} s"],
                ["failure ratio", f"{report.failure_ratio:.2%}"],
                ["histories sampled", report.histories_sampled],
            ],
        ),
    ]
    if report.thresholds:
        parts.append("<h2>Thresholds</h2>")
        rows = [
            [t["name"], f"&le; {t['limit']:g}", _num(t["value"]),
             "<span class=pass>&#10003; pass</span>" if t["passed"]
             else "<span class=fail>&#10007; fail</span>"]
            for t in report.thresholds
        ]  # fmt: skip
        parts.append(_table(["threshold", "limit", "measured", "verdict"], rows, raw=True))
    for warning in report.warnings:
        parts.append(f"<p class=warn>{escape(warning)}</p>")
    parts.append("<h2>Outcomes</h2>")
    outcomes = [[k, v] for k, v in sorted(report.outcomes.items())]
    outcomes += [[f"start error {k}", v] for k, v in sorted(report.start_errors.items())]
    parts.append(_table(["status", "executions"], outcomes))
    if report.failures_by_error:
        parts.append(
            f"<p>Failures by error ({report.failures_described} failed executions described)</p>"
        )
        errors: list[list[Any]] = [[k, v] for k, v in report.failures_by_error.items()]
        parts.append(_table(["error", "executions"], errors))
    parts.append("<h2>Latency (seconds)</h2>")
    keys = ["min", "avg", "p50", "p90", "p95", "p99", "max"]
    rows = [["end to end", *(_num(report.end_to_end_seconds.get(k)) for k in keys)],
            ["schedule to start", *(_num(report.schedule_to_start_seconds.get(k))
                                    for k in keys)]]  # fmt: skip
    for name, state in report.states.items():
        for label, key in (("in state", "in_state_seconds"),
                           ("schedule to start", "schedule_to_start_seconds"),
                           ("task run", "task_run_seconds")):  # fmt: skip
            if state[key].get("max") is not None:
                rows.append([f"{name}: {label}", *(_num(state[key].get(k)) for k in keys)])
    parts.append(_table(["", *keys], rows))
    parts.append("<h2>Histograms</h2>")
    for name, buckets in report.histograms.items():
        title = "end to end" if name == "end_to_end" else name.replace("state:", "state ")
        parts.append(_bars(buckets, f"{title} latency (executions per bucket)"))
    if report.time_series:
        parts.append("<h2>Over time (per second of the run)</h2>")
        parts.append(_lines(report.time_series, ["started", "succeeded", "failed"],
                            "executions per second"))  # fmt: skip
        parts.append(_lines(report.time_series, ["p50_seconds", "p99_seconds"],
                            "latency of executions finishing (s)"))  # fmt: skip
    parts.append("</body></html>")
    return "\n".join(parts)


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(head: list[str], rows: list[list[Any]], raw: bool = False) -> str:
    out = ["<table><tr>", *(f"<th>{escape(h)}</th>" for h in head), "</tr>"]
    for row in rows:
        cells = (str(v) if raw else escape(str(v)) for v in row)
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _bars(buckets: list[dict[str, Any]], title: str) -> str:
    if not buckets:
        return f"<p>{escape(title)}: no data</p>"
    top = max(b["count"] for b in buckets) or 1
    width = (_W - 2 * _PAD) / len(buckets)
    out = [_svg_open(title)]
    for i, bucket in enumerate(buckets):
        h = (_H - 2 * _PAD) * bucket["count"] / top
        x = _PAD + i * width
        label = "+Inf" if bucket["le"] == "+Inf" else f"{bucket['le']:g}"
        out.append(
            f'<rect class=bar x="{x + 2:.1f}" y="{_H - _PAD - h:.1f}" width="{width - 4:.1f}" '
            f'height="{h:.1f}" fill="#4c78a8"><title>&le; {label} s: {bucket["count"]}</title>'
            "</rect>"
        )
        out.append(f'<text x="{x + width / 2:.1f}" y="{_H - _PAD + 14}" text-anchor=middle>'
                   f"&le;{label}</text>")  # fmt: skip
        out.append(f'<text x="{x + width / 2:.1f}" y="{_H - _PAD - h - 3:.1f}" '
                   f'text-anchor=middle>{bucket["count"]}</text>')  # fmt: skip
    out.append("</svg></figure>")
    return "".join(out)


def _lines(rows: list[dict[str, Any]], keys: list[str], title: str) -> str:
    values = [row[k] for row in rows for k in keys if row.get(k) is not None]
    top = max(values, default=0) or 1
    span = max(rows[-1]["t"], 1)
    out = [_svg_open(title)]
    for key in keys:
        points = [
            f"{_PAD + (_W - 2 * _PAD) * row['t'] / span:.1f},"
            f"{_H - _PAD - (_H - 2 * _PAD) * row[key] / top:.1f}"
            for row in rows
            if row.get(key) is not None
        ]
        colour = _COLOURS.get(key, "#333")
        if points:
            out.append(f'<polyline class=series data-key="{key}" fill=none stroke-width=2 '
                       f'stroke="{colour}" points="{" ".join(points)}"/>')  # fmt: skip
    for i, key in enumerate(keys):  # the legend: a swatch and a name per series
        x = _PAD + i * 110
        out.append(f'<rect x="{x}" y="{_H - 18}" width=10 height=10 '
                   f'fill="{_COLOURS.get(key, "#333")}"/><text x="{x + 14}" y="{_H - 9}">'
                   f'{escape(key.replace("_seconds", ""))}</text>')  # fmt: skip
    out.append(f'<text x="{_PAD}" y="{_PAD - 8}">max {top:.4g}</text>'
               f'<text x="{_W - _PAD}" y="{_H - _PAD + 14}" text-anchor=end>{span:g} s</text>'
               "</svg></figure>")  # fmt: skip
    return "".join(out)


def _svg_open(title: str) -> str:
    return (
        f'<figure><figcaption>{escape(title)}</figcaption><svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" role=img '
        f'aria-label="{escape(title)}">'
        f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" stroke="#999"/>'
    )
