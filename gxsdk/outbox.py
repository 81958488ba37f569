"""Enqueueing into "OutboxCommand" inside the caller's own transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from schemas.errors import SchemaError


class IdempotencyConflict(SchemaError):
    """The (tenantId, requestId) pair already names a different command. Carries both ids;
    ``existing_id`` is None when the command is one the writer may not read (another service's,
    under the secure mode's row-level security)."""

    def __init__(self, tenant_id: str, request_id: str, existing_id: str | None) -> None:
        self.tenant_id = tenant_id
        self.request_id = request_id
        self.existing_id = existing_id
        used_by = (
            f"command {existing_id} with a different type or payload"
            if existing_id is not None
            else "a command of another service"
        )
        super().__init__(f"requestId {request_id!r} of tenant {tenant_id!r} is already used by {used_by}")


@dataclass(frozen=True)
class EnqueueResult:
    id: str
    key: str
    created: bool  # False: the same command was already enqueued under this requestId


# The service's own columns only (schemas.roles.SERVICE_INSERTS, all its role may insert): status
# (PENDING), attempts (0) and the times take the table's defaults.
_INSERT = """
INSERT INTO "OutboxCommand" (id, "tenantId", service, "commandType", "requestId", payload, "partitionKey",
                             "correlationId")
VALUES (%(id)s, %(tenant)s, %(service)s, %(ctype)s, %(rid)s, %(payload)s, %(key)s, %(corr)s)
ON CONFLICT ("tenantId", "requestId") DO NOTHING
RETURNING id
"""


def enqueue(
    conn: psycopg.Connection[Any],
    *,
    tenant_id: str,
    service: str,
    command_type: str,
    request_id: str,
    payload: dict[str, Any],
    correlation_id: str | None = None,
    command_id: str | None = None,
) -> EnqueueResult:
    """Validate, key and insert one command in ``conn``'s current transaction (the caller commits).

    The same (tenant_id, request_id) with the same type and payload returns the existing command
    (``created=False``), with no second row and no error. Raises PayloadError naming the bad
    field, IdempotencyConflict if the requestId names another command, ValueError on empty ids;
    in the secure mode, psycopg's InsufficientPrivilege when the connection's role may not write
    rows of ``service`` or of ``command_type`` (schemas.permissions; the message names the
    row-level security policy that refused it).
    """
    for name, value in (("tenantId", tenant_id), ("service", service), ("requestId", request_id)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a non-empty string")
    from schemas.payloads import command_type as ctype_of
    from schemas.routing import partition_key

    key = partition_key(command_type, payload)  # validates the payload (and the type)
    command_type = ctype_of(command_type).value  # as stored: the canonical upper-case name
    params = {
        "id": command_id or str(uuid.uuid4()),
        "tenant": tenant_id,
        "service": service,
        "ctype": command_type,
        "rid": request_id,
        "payload": Jsonb(payload),
        "key": key,
        "corr": correlation_id,
    }
    row = conn.execute(_INSERT, params).fetchone()
    if row is not None:
        return EnqueueResult(row[0], key, True)
    same = conn.execute(
        'SELECT id, ("commandType" = %s AND payload = %s) FROM "OutboxCommand"'
        ' WHERE "tenantId" = %s AND "requestId" = %s',
        (command_type, Jsonb(payload), tenant_id, request_id),
    ).fetchone()
    if same is None:  # committed, but another service's row, which this role may not read
        raise IdempotencyConflict(tenant_id, request_id, None)
    if not same[1]:
        raise IdempotencyConflict(tenant_id, request_id, same[0])
    return EnqueueResult(same[0], key, False)


def show(conn: psycopg.Connection[Any], request_id: str, tenant_id: str | None = None) -> list[dict[str, Any]]:
    """The outbox rows with this requestId (one per tenant unless ``tenant_id`` narrows it)."""
    q = 'SELECT * FROM "OutboxCommand" WHERE "requestId" = %s'
    args: list[Any] = [request_id]
    if tenant_id:
        q += ' AND "tenantId" = %s'
        args.append(tenant_id)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(q + ' ORDER BY "createdAt"', args).fetchall()
