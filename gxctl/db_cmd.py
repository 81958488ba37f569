"""`gxctl db migrate`."""

from __future__ import annotations

import click

from gxcommon.settings import connection_settings
from gxctl.output import emit, handle_errors, json_option
from schemas.migrate import migrate as run_migrations


@click.group("db")
def db() -> None:
    """The pipeline's Postgres schema."""


@db.command("migrate")
@json_option
@handle_errors
def migrate(as_json: bool) -> None:
    """Apply pending SQL migrations (idempotent; safe when run by several processes at once)."""
    applied = run_migrations(connection_settings().dsn())
    emit({"applied": applied}, as_json, lambda d: "applied: " + (", ".join(d["applied"]) or "nothing (up to date)"))
