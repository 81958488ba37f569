"""Reading the monitoring files: every PromQL expression of the dashboards and alert rules, and the
metric names an expression uses (so a test can check them against what the workers export)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent
DASHBOARDS = ROOT / "grafana" / "dashboards"
RULES = ROOT / "prometheus" / "rules"


@dataclass(frozen=True)
class Query:
    """One PromQL expression: where it is (dashboard and panel, or rule file and alert) and its legend."""

    source: str
    title: str
    expr: str
    legend: str = ""
    unit: str = ""
    kind: str = "timeseries"


def dashboards() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))]


def dashboard_queries(d: dict) -> list[Query]:
    out = []
    for panel in d.get("panels", []):
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        for t in panel.get("targets", []):
            out.append(Query(d["uid"], panel["title"], t["expr"], t.get("legendFormat", ""), unit, panel["type"]))
    return out


def rule_queries() -> list[Query]:
    out = []
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                out.append(Query(path.name, rule.get("alert") or rule.get("record"), rule["expr"]))
    return out


def all_queries() -> list[Query]:
    return [q for d in dashboards() for q in dashboard_queries(d)] + rule_queries()


# Prometheus' own series (not exported by any target) and PromQL words that look like names.
SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
KEYWORDS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "inf",
    "nan",
    "atan2",
}


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (functions, keywords, label names and literals left
    out). A small scanner, enough for the expressions in this repo; unit-tested."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)  # strings
    s = re.sub(r"\{[^}]*\}", " ", s)  # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)  # ranges, subqueries
    s = re.sub(r"\boffset\s+-?[0-9smhdwy]+", " ", s)  # offset durations
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"(?<![\w:])\d+(\.\d+)?([eE][+-]?\d+)?\b", " ", s)  # numbers
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", s):
        rest = s[m.end() :].lstrip()
        word = m.group(0)
        if rest.startswith("(") or word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names
