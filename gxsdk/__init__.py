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

from typing import Any

__all__ = ["EnqueueResult", "IdempotencyConflict", "command_producer", "enqueue", "produce", "show"]
_HOME = {
    "EnqueueResult": "outbox",
    "IdempotencyConflict": "outbox",
    "enqueue": "outbox",
    "show": "outbox",
    "produce": "produce",
    "command_producer": "produce",
}


def __getattr__(name: str) -> Any:
    # Imported on first use: the outbox path needs no Kafka client, the Kafka path no database driver.
    if name not in _HOME:
        raise AttributeError(f"module 'gxsdk' has no attribute {name!r}")
    import importlib

    home = _HOME[name]
    module = importlib.import_module(f"gxsdk.{home}")
    # Importing gxsdk.produce binds the package attribute ``produce`` to that module; the SDK's
    # ``produce`` is the function, so every name of the module is bound here, after the import.
    globals().update({n: getattr(module, n) for n, h in _HOME.items() if h == home})
    return globals()[name]
