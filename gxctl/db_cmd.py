"""`gxctl db migrate`."""

from __future__ import annotations

import click

from gxcommon.settings import connection_settings
from gxctl.output import emit, handle_errors, json_option


@click.group("db")
def db() -> None:
    """The pipeline's Postgres schema."""


@db.command("migrate")
@json_option
@handle_errors
def migrate(as_json: bool) -> None:
    """Apply pending SQL migrations (idempotent; safe when run by several processes at once), then
    the grants of every role when the database has them (schemas.roles)."""
    from stack.init import migrate_and_grant

    emit({"steps": migrate_and_grant(connection_settings().dsn())}, as_json, lambda d: "\n".join(d["steps"]))
