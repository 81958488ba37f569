"""Writing a prepared batch: read-model statements and checkpoints in one Postgres transaction.

1. The checkpoint rows of the batch's partitions are locked, so two writers (a rebalance overlap, a
   rebuild's swap) serialise here.
2. The stored checkpoints must equal those the batch was prepared against; otherwise the batch is
   not written and :class:`CheckpointMoved` says where the partitions really stand (the caller
   re-prepares from there, after reading any records in between from Kafka). A checkpoint therefore
   never jumps over an offset that was not applied.
3. The statements run in order, grouped into executemany where consecutive ones share their SQL.
4. Dead letters are handed to ``on_dead`` before the commit: at worst sent twice, never lost.
5. Each partition's checkpoint moves to its last fresh offset and ledger position.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import psycopg

from projections.errors import CheckpointMoved
from projections.model import DeadLetter, GroupSpec, Prepared, Stmt

LIVE = "live"


def table_names(group: GroupSpec, suffix: str = "") -> dict[str, str]:
    """Placeholder -> quoted table name (``suffix`` names a rebuild's shadow tables)."""
    return {t: f'"{t}{suffix}"' for t in group.tables}


def checkpoints(conn: psycopg.Connection[Any], projector: str, topic: str) -> dict[int, int]:
    """partition -> last applied offset, for this projector and topic."""
    rows = conn.execute('SELECT "partition", "offset" FROM "ProjectorState" WHERE "projectorName" = %s AND topic = %s',
                        (projector, topic)).fetchall()
    return {p: o for p, o in rows}


def lock_checkpoints(conn: psycopg.Connection[Any], projector: str, channel: str, topic: str,
                     partitions: Iterable[int]) -> dict[int, int]:
    parts = sorted(set(partitions))
    conn.execute(
        'INSERT INTO "ProjectorState" ("projectorName", channel, topic, "partition", "offset", "lastBlock",'
        ' "lastEventIndex") SELECT %s, %s, %s, p, -1, -1, -1 FROM unnest(%s::int[]) AS p'
        ' ON CONFLICT DO NOTHING', (projector, channel, topic, parts))
    rows = conn.execute('SELECT "partition", "offset" FROM "ProjectorState" WHERE "projectorName" = %s'
                        ' AND channel = %s AND topic = %s AND "partition" = ANY(%s) ORDER BY 1 FOR UPDATE',
                        (projector, channel, topic, parts)).fetchall()
    return {p: o for p, o in rows}


def write(conn: psycopg.Connection[Any], stmts: Sequence[Stmt], tables: Mapping[str, str]) -> None:
    i = 0
    with conn.cursor() as cur:
        while i < len(stmts):
            j = i + 1
            while j < len(stmts) and stmts[j].sql == stmts[i].sql:
                j += 1
            sql = stmts[i].sql.format_map(tables)
            if j - i == 1:
                cur.execute(sql, stmts[i].params)
            else:
                cur.executemany(sql, [s.params for s in stmts[i:j]])
            i = j


def commit(conn: psycopg.Connection[Any], projector: str, channel: str, topic: str, batch: Prepared,
           tables: Mapping[str, str], on_dead: Callable[[list[DeadLetter]], None] = lambda dead: None) -> None:
    """Write ``batch`` and its checkpoints in one transaction. Raises CheckpointMoved (nothing
    written) if a stored checkpoint differs from ``batch.after``; psycopg errors pass through."""
    with conn.transaction():
        stored = lock_checkpoints(conn, projector, channel, topic, batch.after)
        if any(stored[p] != batch.after[p] for p in batch.after):
            raise CheckpointMoved(topic, stored)
        write(conn, batch.stmts, tables)
        if batch.dead:
            on_dead(batch.dead)
        parts = sorted(batch.last_offset)
        if parts:
            pos = [batch.position.get(p, (-1, -1, -1)) for p in parts]
            conn.execute(
                'UPDATE "ProjectorState" s SET "offset" = x.o,'
                ' "lastBlock" = CASE WHEN x.b >= 0 THEN x.b ELSE s."lastBlock" END,'
                ' "lastTxIndex" = CASE WHEN x.b >= 0 THEN x.t ELSE s."lastTxIndex" END,'
                ' "lastEventIndex" = CASE WHEN x.b >= 0 THEN x.e ELSE s."lastEventIndex" END, "updatedAt" = now()'
                ' FROM unnest(%s::int[], %s::bigint[], %s::bigint[], %s::int[], %s::int[]) AS x(p, o, b, t, e)'
                ' WHERE s."projectorName" = %s AND s.channel = %s AND s.topic = %s AND s."partition" = x.p',
                (parts, [batch.last_offset[p] for p in parts], [b for b, _, _ in pos], [t for _, t, _ in pos],
                 [e for _, _, e in pos], projector, channel, topic))
