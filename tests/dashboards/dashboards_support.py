"""Helpers for dashboard tests: the files, panel expressions, variable substitution, promtool."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "dashboards"
GRAFANA = DASHBOARDS / "grafana" / "fleet.json"
CLOUDWATCH = DASHBOARDS / "cloudwatch" / "fleet.json"
ALERTS = DASHBOARDS / "prometheus" / "alerts.yml"
ALERT_TESTS = DASHBOARDS / "prometheus" / "alerts.test.yml"

#: What Grafana puts in for its built-in interval variables when the tests run a query.
RATE_INTERVAL = "15s"
BUILT_INS = {
    "__rate_interval": RATE_INTERVAL,
    "__interval": "1s",
    "__range": "5m",
    "__range_s": "300",
}

_PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
}


def promtool() -> str:
    """The promtool binary (Debian's `prometheus` package; scripts/test installs it)."""
    path = shutil.which("promtool")
    if path is None:
        raise RuntimeError("promtool not found: install the `prometheus` package (scripts/test)")
    return path


def run_promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run promtool with ``args``; the result carries exit status and both outputs."""
    return subprocess.run(
        [promtool(), *args], input=stdin, capture_output=True, text=True, timeout=30, check=False
    )


def load_dashboard() -> dict[str, Any]:
    return dict(json.loads(GRAFANA.read_text(encoding="utf-8")))


def load_alerts() -> list[dict[str, Any]]:
    """Every alerting rule of alerts.yml."""
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"] if "alert" in rule]


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, with the panels of collapsed rows."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def graph_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """The panels that show data (every panel but rows)."""
    return [panel for panel in all_panels(dashboard) if panel["type"] != "row"]


def variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard["templating"]["list"]}


def variable_query(variable: dict[str, Any]) -> str:
    """The PromQL-side query of a query variable, e.g. ``label_values(metric, label)``."""
    query = variable["query"]
    return str(query["query"] if isinstance(query, dict) else query)


def substitute(expr: str, values: dict[str, str]) -> str:
    """``expr`` with Grafana's variables filled in, as Grafana does before it sends a query.

    ``values`` gives the dashboard's own variables (``activity``, ``instance``); the built-in
    interval variables get the test's values. An unknown variable is an error, so a new
    variable on the dashboard cannot slip through untested.
    """
    known = {**BUILT_INS, **values}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in known:
            raise KeyError(f"no test value for ${name} in {expr!r}")
        return known[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", fill, expr)


def regex_value(value: str) -> str:
    """One selected value as Grafana writes it into ``=~"..."``: regex- and string-escaped."""
    return re.escape(value).replace("\\", "\\\\")


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads (label names, functions and keywords left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range and subquery durations
    text = re.sub(
        r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text
    )  # label lists
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)\s*(\()?", text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _PROMQL_WORDS:
            continue
        names.add(name)
    return names


def selectors(expr: str) -> list[tuple[str, str]]:
    """Each ``metric{matchers}`` in ``expr`` as (metric, matchers)."""
    return re.findall(r"([a-zA-Z_:][\w:]*)\{([^}]*)\}", expr)


def label_values_query(query: str) -> tuple[str, str]:
    """``label_values(selector, label)`` split into selector and label."""
    match = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", query)
    if match is None:
        raise ValueError(f"not a label_values() query: {query!r}")
    return match.group(1).strip(), match.group(2)


@dataclass(frozen=True)
class Exposition:
    """What a worker's /metrics said: sample names and the label names of each."""

    text: str
    labels: dict[str, frozenset[str]]

    @classmethod
    def parse(cls, text: str) -> Exposition:
        labels: dict[str, set[str]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                names = set(sample.labels) - {"le", "quantile"}
                labels.setdefault(sample.name, set()).update(names)
        return cls(text, {name: frozenset(found) for name, found in labels.items()})

    def samples_of(self, name: str) -> list[dict[str, str]]:
        """The label sets of every sample called ``name``."""
        return [
            dict(sample.labels)
            for family in text_string_to_metric_families(self.text)
            for sample in family.samples
            if sample.name == name
        ]


@dataclass(frozen=True)
class Query:
    """One PromQL expression of the dashboard or the alert rules, and where it comes from."""

    where: str
    expr: str


def dashboard_queries(dashboard: dict[str, Any]) -> list[Query]:
    """Every panel target's expression (unsubstituted), named by panel title and refId."""
    return [
        Query(f"{panel['title']} / {target['refId']}", target["expr"])
        for panel in graph_panels(dashboard)
        for target in panel["targets"]
    ]


def alert_queries() -> list[Query]:
    return [Query(rule["alert"], rule["expr"]) for rule in load_alerts()]


def rules_file(queries: list[Query], values: dict[str, str]) -> str:
    """A Prometheus rules file with one recording rule per query, for ``promtool check rules``."""
    rules = [
        {"record": f"dashboard:query_{index}:check", "expr": substitute(q.expr, values)}
        for index, q in enumerate(queries)
    ]
    return yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, sort_keys=False)
