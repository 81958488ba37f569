"""Writing a prepared batch: read-model statements and checkpoints in one Postgres transaction,
sent in pipeline mode (one round trip's wait, and the caller can fold the next batch meanwhile).

1. Dead letters are handed to ``on_dead`` before anything is sent: at worst twice, never lost.
2. The checkpoint rows of the batch's partitions are locked, so two writers (a rebalance overlap, a
   rebuild's swap) serialise here.
3. The stored checkpoints must equal those the batch was prepared against (or, for a partition
   the writer meets for the first time, end right before the batch's first record), checked on the
   server; otherwise the transaction rolls back and :class:`CheckpointMoved` says where the
   partitions really stand (the caller re-prepares from there, after reading any records in
   between from Kafka). A checkpoint therefore never jumps over an offset that was not applied.
4. The statements run in order, grouped into executemany where consecutive ones share their SQL.
5. Each partition's checkpoint moves to its last fresh offset and ledger position.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from typing import Any

import psycopg

from projections.errors import CheckpointMoved
from projections.model import UNKNOWN, DeadLetter, GroupSpec, Prepared, Stmt


def table_names(group: GroupSpec, suffix: str = "") -> dict[str, str]:
    """Placeholder -> quoted table name (``suffix`` names a rebuild's shadow tables)."""
    return {t: f'"{t}{suffix}"' for t in group.tables}


def checkpoints(conn: psycopg.Connection[Any], projector: str, topic: str) -> dict[int, int]:
    """partition -> last applied offset, for this projector and topic."""
    rows = conn.execute(
        'SELECT "partition", "offset" FROM "ProjectorState" WHERE "projectorName" = %s AND topic = %s',
        (projector, topic),
    ).fetchall()
    return dict(rows)


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


def _required(batch: Prepared) -> dict[int, int]:
    """partition -> the checkpoint that must be stored for the batch to follow it: the one it was
    prepared against, or, for a partition its writer has not seen yet (UNKNOWN), the offset right
    before the batch's first record of that partition."""
    out = {}
    for p, expected in batch.after.items():
        if expected == UNKNOWN:
            expected = min(r.offset for r in batch.records if r.partition == p) - 1
        out[p] = expected
    return out


CHECKPOINTS_MOVED = "GXCKP"  # SQLSTATE raised by gx_assert_checkpoints (migration 005)


def send(
    conn: psycopg.Connection[Any],
    projector: str,
    channel: str,
    topic: str,
    batch: Prepared,
    tables: Mapping[str, str],
    on_dead: Callable[[list[DeadLetter]], None] = lambda dead: None,
) -> Callable[[], None]:
    """Send ``batch`` and its checkpoints as one transaction in pipeline mode, without waiting for
    the server; returns ``finish()``, which waits for the outcome. The server checks the
    checkpoints under lock before any write lands (gx_assert_checkpoints). ``finish`` raises
    CheckpointMoved (nothing written) if they moved; psycopg errors pass through.

    Dead letters go out first, before anything is sent: at worst twice, never lost.
    """
    if batch.dead:
        on_dead(batch.dead)
    required = _required(batch)
    parts = sorted(required)
    stack = ExitStack()
    try:
        stack.enter_context(conn.pipeline())
        stack.enter_context(conn.transaction())
        conn.execute(
            'INSERT INTO "ProjectorState" ("projectorName", channel, topic, "partition", "offset", "lastBlock",'
            ' "lastEventIndex") SELECT %s, %s, %s, p, -1, -1, -1 FROM unnest(%s::int[]) AS p'
            " ON CONFLICT DO NOTHING",
            (projector, channel, topic, parts),
        )
        conn.execute(
            'SELECT 1 FROM "ProjectorState" WHERE "projectorName" = %s AND channel = %s AND topic = %s'
            ' AND "partition" = ANY(%s) ORDER BY "partition" FOR UPDATE',
            (projector, channel, topic, parts),
        )
        conn.execute(
            'SELECT gx_assert_checkpoints(NOT EXISTS (SELECT 1 FROM "ProjectorState" s'
            ' JOIN unnest(%s::int[], %s::bigint[]) AS x(p, want) ON s."partition" = x.p'
            ' WHERE s."projectorName" = %s AND s.channel = %s AND s.topic = %s AND s."offset" <> x.want))',
            (parts, [required[p] for p in parts], projector, channel, topic),
        )
        write(conn, batch.stmts, tables)
        moved = sorted(batch.last_offset)
        if moved:
            pos = [batch.position.get(p, (-1, -1, -1)) for p in moved]
            conn.execute(
                'UPDATE "ProjectorState" s SET "offset" = x.o,'
                # the ledger position only moves forward (an old event replayed at a higher offset)
                ' "lastBlock" = CASE WHEN (x.b, x.t, x.e) > (s."lastBlock", s."lastTxIndex", s."lastEventIndex")'
                ' THEN x.b ELSE s."lastBlock" END,'
                ' "lastTxIndex" = CASE WHEN (x.b, x.t, x.e) > (s."lastBlock", s."lastTxIndex", s."lastEventIndex")'
                ' THEN x.t ELSE s."lastTxIndex" END,'
                ' "lastEventIndex" = CASE WHEN (x.b, x.t, x.e) > (s."lastBlock", s."lastTxIndex", s."lastEventIndex")'
                ' THEN x.e ELSE s."lastEventIndex" END, "updatedAt" = now()'
                " FROM unnest(%s::int[], %s::bigint[], %s::bigint[], %s::int[], %s::int[]) AS x(p, o, b, t, e)"
                ' WHERE s."projectorName" = %s AND s.channel = %s AND s.topic = %s AND s."partition" = x.p',
                (
                    moved,
                    [batch.last_offset[p] for p in moved],
                    [b for b, _, _ in pos],
                    [t for _, t, _ in pos],
                    [e for _, _, e in pos],
                    projector,
                    channel,
                    topic,
                ),
            )
    except BaseException as e:
        # In pipeline mode an error can surface at any statement, not only at the end.
        try:
            stack.__exit__(type(e), e, e.__traceback__)
        except psycopg.Error:  # the same failure, reported again by the pipeline's exit
            pass
        _raise_moved(conn, projector, topic, e)
        raise

    def finish() -> None:
        try:
            stack.close()  # COMMIT, then wait for every result
        except psycopg.Error as e:
            _raise_moved(conn, projector, topic, e)
            raise

    return finish


def _raise_moved(conn: psycopg.Connection[Any], projector: str, topic: str, e: BaseException) -> None:
    """Raise CheckpointMoved (with where the checkpoints are) if ``e`` is the server's check failing."""
    if isinstance(e, psycopg.Error) and e.sqlstate == CHECKPOINTS_MOVED:
        raise CheckpointMoved(topic, checkpoints(conn, projector, topic)) from None


def commit(
    conn: psycopg.Connection[Any],
    projector: str,
    channel: str,
    topic: str,
    batch: Prepared,
    tables: Mapping[str, str],
    on_dead: Callable[[list[DeadLetter]], None] = lambda dead: None,
) -> None:
    """Write ``batch`` and its checkpoints in one transaction and wait for it (see :func:`send`)."""
    send(conn, projector, channel, topic, batch, tables, on_dead)()
