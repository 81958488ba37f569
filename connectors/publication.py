"""The Postgres side of the outbox connector: its publication, inserts only."""

from __future__ import annotations

import psycopg
from psycopg import sql

# The outbox only: Debezium's heartbeats are logical decoding messages (pg_logical_emit_message),
# which need no table (connectors/outbox.yaml).
CAPTURED = ("OutboxCommand",)


def ensure_publication(dsn: str, name: str, tables: tuple[str, ...] = CAPTURED) -> bool:
    """Create ``name`` as ``FOR TABLE <tables> WITH (publish = 'insert')`` if absent.

    If it exists with other tables or operations it is altered to these (in place: a slot streaming
    from it never sees it missing). Returns True if it changed.
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication WHERE pubname = %s", (name,)
        ).fetchone()
        have = [
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_publication_tables WHERE pubname = %s", (name,)).fetchall()
        ]
        if row == (True, False, False, False) and sorted(have) == sorted(tables):
            return False
        listed = sql.SQL(", ").join(sql.Identifier(t) for t in tables)
        if row is None:
            conn.execute(
                sql.SQL("CREATE PUBLICATION {} FOR TABLE {} WITH (publish = 'insert')").format(
                    sql.Identifier(name), listed
                )
            )
            return True
        with conn.transaction():
            conn.execute(sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(sql.Identifier(name), listed))
            conn.execute(sql.SQL("ALTER PUBLICATION {} SET (publish = 'insert')").format(sql.Identifier(name)))
        return True


def drop_slot(dsn: str, slot: str) -> bool:
    """Drop a replication slot once inactive (after its connector is deleted). True if dropped."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s AND NOT active",
            (slot,),
        ).fetchall()
        return bool(rows)
