"""`gxctl commands enqueue|show`: the SDK's enqueue for operators and tests."""

from __future__ import annotations

import json
import sys

import click

from gxcommon.settings import connection_settings
from gxctl.output import emit, json_option
from gxctl.story import story


@click.group("commands")
def commands() -> None:
    """Commands in the outbox."""


@commands.command("enqueue")
@click.option("--tenant", required=True)
@click.option("--service", required=True)
@click.option("--type", "ctype", required=True, help="One of the 25 command types.")
@click.option("--request-id", required=True, help="Idempotency key.")
@click.option("--payload", required=True, help="The payload as a JSON object.")
@click.option("--correlation-id", default=None)
@json_option
def enqueue_cmd(
    tenant: str, service: str, ctype: str, request_id: str, payload: str, correlation_id: str | None, as_json: bool
) -> None:
    """Validate and insert one command; prints its id. Exit status 2 on invalid input."""
    from gxsdk import IdempotencyConflict, enqueue
    from schemas.errors import PayloadError
    from schemas.routing import partition_key

    try:
        body = json.loads(payload)
    except json.JSONDecodeError as e:
        click.echo(f"error: --payload: not JSON ({e})", err=True)
        sys.exit(2)
    partition_key(ctype, body)  # bad input is refused (PayloadError: exit 2) before any connection is made
    import psycopg

    try:
        with psycopg.connect(connection_settings().dsn()) as conn:
            res = enqueue(
                conn,
                tenant_id=tenant,
                service=service,
                command_type=ctype,
                request_id=request_id,
                payload=body,
                correlation_id=correlation_id,
            )
    except (PayloadError, IdempotencyConflict, ValueError) as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    emit(
        {"id": res.id, "key": res.key, "created": res.created},
        as_json,
        lambda d: f"{d['id']} key={d['key']}" + ("" if d["created"] else " (already enqueued)"),
    )


@commands.command("show")
@click.argument("request_id")
@click.option("--tenant", default=None)
@json_option
def show_cmd(request_id: str, tenant: str | None, as_json: bool) -> None:
    """A command's story: the outbox row, its partition and offset, each attempt with its error
    class, the transaction and block, the final status. Exit status 1 if there is no such command."""
    import psycopg

    from gxsdk.outbox import show

    with psycopg.connect(connection_settings().dsn()) as conn:
        rows = show(conn, request_id, tenant)
    if not rows:
        click.echo(f"no command with requestId {request_id!r}", err=True)
        sys.exit(1)
    emit(rows, as_json, lambda rs: "\n\n".join("\n".join(story(r)) for r in rs))
