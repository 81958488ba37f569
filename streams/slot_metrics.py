"""Replication slots of the outbox database as metrics (exported by the results writer, the worker
that owns the outbox rows). A slot that Debezium stopped reading keeps WAL on the server's disk
until the disk fills: ``postgres_replication_slot_wal_retained_bytes`` is what the alert watches."""

from __future__ import annotations

from typing import Any

import psycopg
from prometheus_client import Gauge

from gxcommon import logs

log = logs.get(__name__)

WAL_RETAINED = Gauge(
    "postgres_replication_slot_wal_retained_bytes",
    "WAL the server keeps for the slot (current LSN minus the slot's restart LSN)",
    ["slot"],
)
SLOT_ACTIVE = Gauge("postgres_replication_slot_active", "1 while a client streams from the slot", ["slot"])

QUERY = """SELECT slot_name, active, COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint
           FROM pg_replication_slots WHERE database = current_database()"""


def record(rows: list[tuple[str, bool, int]], known: set[str]) -> set[str]:
    """Set the gauges from ``rows``; slots that disappeared since ``known`` are removed. Returns the slots seen."""
    seen = {name for name, _, _ in rows}
    for gone in known - seen:
        WAL_RETAINED.remove(gone)
        SLOT_ACTIVE.remove(gone)
    for name, active, retained in rows:
        WAL_RETAINED.labels(name).set(retained)
        SLOT_ACTIVE.labels(name).set(1 if active else 0)
    return seen


def install(app: Any, dsn: str, every: float = 15.0) -> None:
    known: set[str] = set()

    @app.timer(every)
    async def replication_slots() -> None:
        nonlocal known
        try:
            async with await psycopg.AsyncConnection.connect(dsn, connect_timeout=3) as conn:
                rows = await (await conn.execute(QUERY)).fetchall()
        except psycopg.Error as e:  # /readyz reports Postgres; here the gauges just keep their value
            log.warning("replication slots not read", error=str(e).strip().splitlines()[0] if str(e).strip() else "")
            return
        known = record(rows, known)
