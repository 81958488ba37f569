"""`gxctl db migrate`."""

from __future__ import annotations

import click

from gxcommon.settings import connection_settings
from gxctl.output import emit, handle_errors, json_option
from schemas.errors import SchemaError
from schemas.migrate import migrate as run_migrations


@click.group("db")
def db() -> None:
    """The pipeline's Postgres schema."""


@db.command("migrate")
@json_option
@handle_errors
def migrate(as_json: bool) -> None:
    """Apply pending SQL migrations (idempotent; safe when run by several processes at once)."""
    try:
        applied = run_migrations(connection_settings().dsn())
    except SchemaError as e:
        raise click.ClickException(str(e)) from e
    emit({"applied": applied}, as_json, lambda d: "applied: " + (", ".join(d["applied"]) or "nothing (up to date)"))
