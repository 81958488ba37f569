"""`gxctl report --out DIR`: the dashboards as PNG files, drawn from Prometheus (no Grafana needed)."""

from __future__ import annotations

from pathlib import Path

import click

from gxcommon.settings import SettingsError, connection_settings
from gxcommon.tables import rows_table
from gxctl.output import emit, json_option


def _duration(ctx: click.Context, param: click.Parameter, text: str) -> float:
    """A positive duration: 90 (seconds), 30m, 2h, 1d."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        seconds = float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)
    except (ValueError, IndexError):
        raise click.BadParameter(f"{text!r} is not a duration like 30m, 2h or 900") from None
    if seconds <= 0:
        raise click.BadParameter(f"{text!r}: the duration must be positive")
    return seconds


def _local_prometheus() -> str | None:
    """The local stack's Prometheus, if `gxctl stack up --with-monitoring` runs one."""
    from stack.manager import Stack

    prom = Stack().prometheus
    return prom.url if prom.proc.pid() is not None else None


@click.command("report")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the PNG files (one per dashboard).",
)
@click.option("--since", default="30m", show_default=True, callback=_duration, help="How far back: 30m, 2h, 1d.")
@click.option(
    "--prometheus",
    "url",
    default=None,
    help="Prometheus' URL [default: GX_PROMETHEUS_URL, the local stack's with --with-monitoring].",
)
@json_option
def report(out_dir: Path, since: float, url: str | None, as_json: bool) -> None:
    """Query every panel of monitoring/grafana/dashboards from Prometheus and draw it."""
    from monitoring.report import render

    url = url or connection_settings().prometheus_url or _local_prometheus()
    if not url:
        raise SettingsError(
            "no Prometheus to read from: `gxctl stack up --with-monitoring` runs one for the local "
            "stack; elsewhere pass --prometheus URL or set GX_PROMETHEUS_URL",
            "GX_PROMETHEUS_URL",
        )
    summary = render(url, out_dir, since)
    rows = [
        {
            "dashboard": s["dashboard"],
            "file": s["file"],
            "panels": len(s["panels"]),
            "with data": sum(1 for n in s["panels"].values() if n),
        }
        for s in summary
    ]
    emit(summary if as_json else rows, as_json, lambda r: rows_table(r, ["dashboard", "panels", "with data", "file"]))
