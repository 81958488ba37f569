"""`gxctl db migrate`, `gxctl db roles`."""

from __future__ import annotations

from pathlib import Path

import click

from gxcommon.settings import connection_settings
from gxctl.errors import CommandError
from gxctl.output import emit, json_option


@click.group("db")
def db() -> None:
    """The pipeline's Postgres schema."""


@db.command("migrate")
@json_option
def migrate(as_json: bool) -> None:
    """Apply pending SQL migrations (idempotent; safe when run by several processes at once), then
    the grants of every role when the database has them (schemas.roles)."""
    from stack.init import migrate_and_grant

    applied, granted = migrate_and_grant(connection_settings().dsn())
    emit(
        {"applied": applied, "grants_applied": granted},
        as_json,
        lambda d: (
            "applied: "
            + (", ".join(d["applied"]) or "nothing (up to date)")
            + ("\ngrants applied to every role" if d["grants_applied"] else "")
        ),
    )


@db.command("roles")
@click.option(
    "--passwords-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="A folder with one file per role, named after it, holding its password "
    "(e.g. a mounted Secret with a key per role).",
)
@json_option
def roles_cmd(passwords_dir: Path, as_json: bool) -> None:
    """Create or update every role of schemas/roles.py (LOGIN, REPLICATION for gx_cdc) with its
    password. Run as a superuser (GX_PG_DSN); the grants follow with `gxctl db migrate` (as the
    owner). Passwords are read, never printed."""
    from projections.groups import GROUPS
    from schemas.roles import ensure_roles, login_roles

    if not passwords_dir.is_dir():
        raise CommandError(f"--passwords-dir {passwords_dir}: no such folder")
    attributes = login_roles(GROUPS)
    missing = [r for r in attributes if not (passwords_dir / r).is_file()]
    if missing:
        raise CommandError(f"--passwords-dir {passwords_dir}: no password file for {', '.join(missing)}")
    passwords = {r: (passwords_dir / r).read_text().rstrip("\n") for r in attributes}
    ensure_roles(connection_settings().dsn(), passwords, attributes)
    emit({"roles": sorted(attributes)}, as_json, lambda d: "roles created or updated: " + ", ".join(d["roles"]))
