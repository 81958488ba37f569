"""The Postgres side of the outbox connector: its publication, inserts only."""

from __future__ import annotations

import psycopg
from psycopg import sql

CAPTURED = ("OutboxCommand", "gx_cdc_heartbeat")


def ensure_publication(dsn: str, name: str, tables: tuple[str, ...] = CAPTURED) -> bool:
    """Create ``name`` as ``FOR TABLE <tables> WITH (publish = 'insert')`` if absent.

    If it exists with other tables or operations it is recreated. Returns True if it changed.
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
        if row is not None:
            conn.execute(sql.SQL("DROP PUBLICATION {}").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("CREATE PUBLICATION {} FOR TABLE {} WITH (publish = 'insert')").format(
                sql.Identifier(name), sql.SQL(", ").join(sql.Identifier(t) for t in tables)
            )
        )
        return True


def drop_slot(dsn: str, slot: str) -> bool:
    """Drop a replication slot once inactive (after its connector is deleted). True if dropped."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s AND NOT active",
            (slot,),
        ).fetchall()
        return bool(rows)
