"""Dashboards drawn without Grafana: each dashboard's panels queried from Prometheus' HTTP API
(query_range) and drawn with matplotlib, one PNG per dashboard (`gxctl report --out DIR`).

Panels are drawn by kind: time series as lines (stacked bars when the panel stacks), a state
timeline as steps with the state names, a bar gauge as horizontal bars of the last values, a stat
as its series with the last value in the title. Axes carry the panel's unit.
"""

from __future__ import annotations

import json
import math
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from gxerrors import GxError
from monitoring.files import Query, dashboard_queries, dashboards

# Grafana unit -> (axis label, scale applied to values)
UNITS: dict[str, tuple[str, float]] = {
    "reqps": ("per second", 1),
    "ops": ("per second", 1),
    "s": ("seconds", 1),
    "ms": ("milliseconds", 1),
    "percentunit": ("percent", 100),
    "short": ("count", 1),
    "none": ("value", 1),
    "bytes": ("bytes", 1),
}


class ReportError(GxError):
    """Prometheus could not be queried (the message names the URL and the cause)."""


class QueryRefused(ReportError):
    """Prometheus answered, but refused one query (that panel shows the reason; the rest go on)."""


@dataclass
class Series:
    label: str
    times: list[float]
    values: list[float]
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class PanelData:
    title: str
    kind: str
    unit: str
    series: list[Series] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    panel: dict[str, Any] = field(default_factory=dict)


def legend(fmt: str, labels: dict[str, str]) -> str:
    """Grafana's legendFormat: ``{{name}}`` replaced by the label's value."""
    out = fmt or "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__") + "}"
    for k, v in labels.items():
        out = out.replace("{{" + k + "}}", v).replace("{{ " + k + " }}", v)
    return out


def query_range(base: str, expr: str, start: float, end: float, step: float, timeout: float = 20) -> list[dict]:
    """The matrix Prometheus returns for ``expr``. Raises ReportError."""
    qs = urllib.parse.urlencode({"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"})
    try:
        with urllib.request.urlopen(f"{base.rstrip('/')}/api/v1/query_range?{qs}", timeout=timeout) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:
        try:
            detail = json.load(e).get("error", "")
        except ValueError:
            detail = ""
        raise QueryRefused(f"prometheus at {base}: HTTP {e.code} {detail}".strip()) from None
    except OSError as e:
        raise ReportError(f"prometheus at {base}: {getattr(e, 'reason', e)}") from None
    if body.get("status") != "success":
        raise QueryRefused(f"prometheus at {base}: {body.get('error', body)}")
    return body["data"]["result"]


def fetch(
    base: str, queries: list[Query], panels: list[dict], start: float, end: float, step: float
) -> list[PanelData]:
    out: dict[str, PanelData] = {}
    by_title = {p["title"]: p for p in panels}
    for q in queries:
        pd = out.setdefault(q.title, PanelData(q.title, q.kind, q.unit, panel=by_title.get(q.title, {})))
        try:
            for item in query_range(base, q.expr, start, end, step):
                vals = [(float(t), float(v)) for t, v in item["values"] if not math.isnan(float(v))]
                pd.series.append(
                    Series(legend(q.legend, item["metric"]), [t for t, _ in vals], [v for _, v in vals], item["metric"])
                )
        except QueryRefused as e:  # unreachable Prometheus (ReportError) fails the whole report
            pd.errors.append(str(e))
    return list(out.values())


def draw(title: str, panels: list[PanelData], path: Path, start: float, end: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from datetime import datetime

    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    cols = 2
    rows = max(1, math.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(16, 3.6 * rows), squeeze=False)
    span = f"{datetime.fromtimestamp(start, UTC):%Y-%m-%d %H:%M} to {datetime.fromtimestamp(end, UTC):%H:%M} UTC"
    fig.suptitle(f"{title}  ({span})", fontsize=14, fontweight="bold")
    for ax, pd in zip(axes.flat, panels):
        label, scale = UNITS.get(pd.unit, (pd.unit or "value", 1))
        ax.set_title(pd.title, fontsize=10, loc="left")
        if pd.kind == "bargauge":
            bars = sorted((s for s in pd.series if s.values), key=lambda s: float(s.labels.get("le", "nan")))
            names = [s.label for s in bars]
            values = [s.values[-1] * scale for s in bars]
            ax.barh(names, values, color="tab:blue")
            ax.set_xlabel(label)
        else:
            for s in pd.series:
                t = [datetime.fromtimestamp(x, UTC) for x in s.times]
                v = [y * scale for y in s.values]
                if pd.kind == "state-timeline":
                    ax.step(t, v, where="post", label=s.label)
                else:  # a series of a few points gets markers, so that it shows at all
                    ax.plot(t, v, label=s.label, linewidth=1.4, marker="." if len(v) < 10 else None)
            if pd.kind == "state-timeline":
                ax.set_yticks([0, 1, 2], ["closed", "open", "half-open"])
                ax.set_ylim(-0.3, 2.3)
            else:
                ax.set_ylabel(label)
            ax.set_xlim(datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC))
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
            ax.set_xlabel("time (UTC)")
            if pd.kind == "stat" and pd.series and pd.series[0].values:
                ax.set_title(f"{pd.title}: {pd.series[0].values[-1] * scale:.4g} {label}", fontsize=10, loc="left")
        if not any(s.values for s in pd.series):
            ax.text(
                0.5,
                0.5,
                "no data" + (f"\n{pd.errors[0]}" if pd.errors else ""),
                ha="center",
                va="center",
                transform=ax.transAxes,
                color="gray",
            )
        elif len(pd.series) <= 12 and pd.kind != "bargauge":
            ax.legend(fontsize=7, loc="upper left")
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=80)
    plt.close(fig)


def render(base: str, out_dir: Path, since_s: float, end: float | None = None) -> list[dict[str, Any]]:
    """Draw every dashboard over the last ``since_s`` seconds into ``out_dir``; returns, per
    dashboard, its file and how many series each panel got. Raises ReportError."""
    end = end or time.time()
    start = end - since_s
    step = max(5.0, since_s / 240)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = []
    for d in dashboards():
        panels = fetch(base, dashboard_queries(d), d["panels"], start, end, step)
        path = out_dir / f"{d['uid']}.png"
        draw(d["title"], panels, path, start, end)
        summary.append(
            {
                "dashboard": d["uid"],
                "file": str(path),
                "panels": {p.title: sum(1 for s in p.series if s.values) for p in panels},
            }
        )
    return summary
