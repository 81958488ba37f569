"""The command SDK for upstream services: enqueue a command (outbox) or produce it (no database).

Both paths validate the payload against its command type, compute the same partition key, and
put the same envelope and headers in front of the submitter.

    with psycopg.connect(dsn) as conn, conn.transaction():
        ...                                   # the service's own change
        result = enqueue(conn, tenant_id="t1", service="svc-identity",
                         command_type="CREATE_USER", request_id=idempotency_key,
                         payload={"userId": "USR001", ...})

Errors: ``schemas.errors.PayloadError`` names each bad field; ``IdempotencyConflict`` when a
requestId is reused with another command.
"""

from gxsdk.outbox import EnqueueResult, IdempotencyConflict, enqueue, show
from gxsdk.produce import command_producer, produce

__all__ = ["EnqueueResult", "IdempotencyConflict", "enqueue", "show", "produce", "command_producer"]
