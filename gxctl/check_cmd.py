"""`gxctl check`: probe the services named by the GX_* environment (local stack or compose)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from gxcommon import health
from gxcommon.settings import connection_settings
from gxcommon.tables import rows_table
from gxctl.output import emit, json_option


def _probe(name: str, target: str | None, fn: Callable[[str], Any]) -> dict[str, Any]:
    if not target:
        return {"service": name, "ok": False, "detail": f"GX_{name.upper()} is not set"}
    try:
        return {"service": name, "ok": True, "detail": str(fn(target))}
    except health.ProbeError as e:
        return {"service": name, "ok": False, "detail": str(e)}


@click.command("check")
@json_option
def check(as_json: bool) -> None:
    """Postgres answers with wal_level=logical, Kafka answers ApiVersions, Connect has Debezium."""
    s = connection_settings()
    rows = [
        _probe("pg_dsn", s.pg_dsn.get_secret_value() if s.pg_dsn else None, health.postgres),
        _probe("kafka_bootstrap", s.kafka_bootstrap, lambda b: f"{health.kafka(b)} broker(s)"),
        _probe(
            "connect_url",
            s.connect_endpoint(),
            lambda u: f"Debezium Postgres connector among {len(health.connect(u))} plugin(s)",
        ),
    ]
    if rows[0]["ok"] and rows[0]["detail"] != "logical":
        rows[0].update(ok=False, detail=f"wal_level={rows[0]['detail']}, need logical")
    elif rows[0]["ok"]:
        rows[0]["detail"] = "wal_level=logical"
    emit(rows, as_json, lambda r: rows_table(r, ["service", "ok", "detail"]))
    if not all(r["ok"] for r in rows):
        if not as_json:
            click.echo(
                "hint: for the local stack, `gxctl up` starts everything; elsewhere, check the GX_* "
                "settings (gxctl -v check shows which are used)",
                err=True,
            )
        sys.exit(1)
