"""`gxctl projections rebuild GROUP`: replay a group from offset 0 into shadow tables, then swap.

1. Shadow tables ``"<Table>__rebuild"`` are made like the live ones (columns, defaults, CHECKs and
   keys; secondary indexes come after the bulk load, which is faster), with checkpoints of their own
   (projector ``<group>@rebuild``). Leftovers of an interrupted rebuild are dropped first.
2. Every committed record of gx.fabric.events is folded into them by the same code as the live
   projector, then the rebuild catches up with what arrived meanwhile.
3. One transaction swaps them in: it locks the group's live checkpoints (the live projector's next
   batch waits) and checks that the shadow's checkpoints are at or past the live ones on every
   partition: a shadow behind would make balances go back and writes that `projections wait`
   reported vanish until the live projector replayed the gap. Under load the live projector moves on
   between any catch-up and the swap, so the gap is closed inside the swap: with the live
   checkpoints locked, the shadow applies the records up to them (its own transactions), and the
   check is made again; if it is still behind, the transaction rolls back and the swap is tried
   again. Then it gives the shadow tables the live ones' grants, drops the live tables, renames the
   shadow tables, their keys and indexes to the live names, and moves the shadow checkpoints to the
   group. Its locks are taken with a timeout (``LOCK_TIMEOUT``), so readers never queue behind a
   swap waiting for a long reader: it gives up, catches up and tries again. A reader blocked for the
   swap's own moment then reads the new table: never an empty, half-built or older one.
4. The live projector's next batch finds its checkpoints moved and carries on from them (runner).

Dead letters are not sent again: the live projector sent them when it first met those records.
Interrupted before the swap, a rebuild leaves the live tables and checkpoints untouched.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import psycopg

from gxcommon.kafka import Consumer
from projections import store
from projections.errors import ProjectionError, RebuildError
from projections.kafka_io import read_all, read_range
from projections.model import GroupSpec
from projections.runner import Projector

SUFFIX = "__rebuild"
LOCK_TIMEOUT = "2s"
SWAP_ATTEMPTS = 20


class Behind(ProjectionError):
    """The shadow's checkpoints are behind the live ones on some partitions (no swap)."""

    def __init__(self, partitions: dict[int, tuple[int, int]]) -> None:
        self.partitions = partitions  # partition -> (shadow offset, live offset)
        super().__init__(f"shadow behind the live checkpoints on {sorted(partitions)}")


def _constraints(conn: psycopg.Connection[Any], table: str, kinds: str) -> list[tuple[str, str]]:
    return conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype = ANY(%s) ORDER BY conname",
        (f'"{table}"', list(kinds)),
    ).fetchall()


def _plain_indexes(conn: psycopg.Connection[Any], table: str) -> list[tuple[str, str]]:
    """Indexes that no constraint owns: (name, definition)."""
    return conn.execute(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
        " ORDER BY 1",
        (f'"{table}"',),
    ).fetchall()


def _copy_grants(conn: psycopg.Connection[Any], src: str, dst: str) -> None:
    """Give ``dst`` the table privileges ``src`` grants (the roles of schemas.roles), so the swap
    never leaves a projector without the right to write its tables."""
    rows = conn.execute(
        "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END,"
        " a.privilege_type FROM pg_class c CROSS JOIN aclexplode(c.relacl) a"
        " LEFT JOIN pg_roles r ON r.oid = a.grantee"
        " WHERE c.oid = %s::regclass AND a.grantee <> c.relowner",
        (_q(src),),
    ).fetchall()
    for grantee, privilege in rows:
        conn.execute(f"GRANT {privilege} ON {_q(dst)} TO {grantee}")


def _count(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {_q(table)}").fetchone()
    return int(row[0]) if row else 0


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def create_shadow(conn: psycopg.Connection[Any], group: GroupSpec, shadow_projector: str) -> None:
    with conn.transaction():
        for t in group.tables:
            conn.execute(f"DROP TABLE IF EXISTS {_q(t + SUFFIX)}")
            conn.execute(f"CREATE TABLE {_q(t + SUFFIX)} (LIKE {_q(t)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
            for name, definition in _constraints(conn, t, "pu"):
                conn.execute(f"ALTER TABLE {_q(t + SUFFIX)} ADD CONSTRAINT {_q(name + SUFFIX)} {definition}")
        conn.execute('DELETE FROM "ProjectorState" WHERE "projectorName" = %s', (shadow_projector,))


def index_shadow(conn: psycopg.Connection[Any], group: GroupSpec) -> None:
    with conn.transaction():
        for t in group.tables:
            for name, definition in _plain_indexes(conn, t):
                m = re.match(r"CREATE (UNIQUE )?INDEX (\S+) ON (\S+) (.*)$", definition)
                if m is None:
                    raise RebuildError(f"cannot copy index {name} of {t}: {definition}")
                conn.execute(f"CREATE {m.group(1) or ''}INDEX {_q(name + SUFFIX)} ON {_q(t + SUFFIX)} {m.group(4)}")


def swap(
    conn: psycopg.Connection[Any],
    group: GroupSpec,
    projector: str,
    shadow_projector: str,
    topic: str,
    close_gap: Callable[[dict[int, tuple[int, int]]], None] | None = None,
) -> None:
    """Swap the shadow tables in (see the module's doc). With the live checkpoints locked (the live
    projector cannot move on), ``close_gap`` is given the partitions where the shadow is behind,
    {partition: (shadow offset, live offset)}, to apply to the shadow in transactions of its own.
    Behind if the shadow is still behind the live checkpoints; psycopg.errors.LockNotAvailable
    after LOCK_TIMEOUT; nothing changed in either case."""
    with conn.transaction():
        conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        live = dict(
            conn.execute(
                'SELECT "partition", "offset" FROM "ProjectorState" WHERE "projectorName" = %s'
                ' AND topic = %s ORDER BY "partition" FOR UPDATE',
                (projector, topic),
            ).fetchall()
        )

        def behind() -> dict[int, tuple[int, int]]:
            shadow = store.checkpoints(conn, shadow_projector, topic)  # read committed: sees close_gap's commits
            return {p: (shadow.get(p, -1), o) for p, o in live.items() if shadow.get(p, -1) < o}

        gap = behind()
        if gap and close_gap is not None:
            close_gap(gap)
            gap = behind()
        if gap:
            raise Behind(gap)
        for t in group.tables:
            conn.execute(f"LOCK TABLE {_q(t)} IN ACCESS EXCLUSIVE MODE")
        for t in group.tables:
            renames = [(n + SUFFIX, n) for n, _ in _constraints(conn, t, "pu")]
            index_renames = [(n + SUFFIX, n) for n, _ in _plain_indexes(conn, t)]
            _copy_grants(conn, t, t + SUFFIX)
            conn.execute(f"DROP TABLE {_q(t)}")
            conn.execute(f"ALTER TABLE {_q(t + SUFFIX)} RENAME TO {_q(t)}")
            for old, new in renames:
                conn.execute(f"ALTER TABLE {_q(t)} RENAME CONSTRAINT {_q(old)} TO {_q(new)}")
            for old, new in index_renames:
                conn.execute(f"ALTER INDEX {_q(old)} RENAME TO {_q(new)}")
        conn.execute('DELETE FROM "ProjectorState" WHERE "projectorName" = %s AND topic = %s', (projector, topic))
        conn.execute(
            'UPDATE "ProjectorState" SET "projectorName" = %s WHERE "projectorName" = %s AND topic = %s',
            (projector, shadow_projector, topic),
        )


def _catch_up(p: Projector, conn: psycopg.Connection[Any], bootstrap: str, topic: str) -> int:
    """Apply what arrived after the shadow's checkpoints; returns the records applied."""
    from confluent_kafka import TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "gx-rebuild-ends", "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {q: c.get_watermark_offsets(TopicPartition(topic, q), timeout=10)[1] for q in parts}
    finally:
        c.close()
    stored = store.checkpoints(conn, p.name, topic)
    n = 0
    for q, end in ends.items():
        recs = read_range(bootstrap, topic, q, stored.get(q, -1) + 1, end)
        if recs:
            p.apply(recs)
            n += len(recs)
    return n


def rebuild(
    dsn: str,
    bootstrap: str,
    group: GroupSpec,
    topic: str,
    channel: str,
    progress: Callable[[str], None] = lambda line: None,
    batch: int = 5000,
) -> dict[str, Any]:
    """Rebuild ``group``'s tables from offset 0 and swap them in. Raises RebuildError."""
    shadow_projector = f"{group.name}@rebuild"
    with psycopg.connect(dsn, autocommit=True) as conn:  # each step is its own transaction
        create_shadow(conn, group, shadow_projector)
        dead: list[Any] = []
        p = Projector(
            group,
            shadow_projector,
            channel,
            topic,
            lambda: psycopg.connect(dsn),
            lambda t, q, start, end: read_range(bootstrap, t, q, start, end),
            dead.extend,
            tables=store.table_names(group, SUFFIX),
        )
        try:
            n = 0
            for records in read_all(bootstrap, topic, batch):
                p.apply(records)
                n += len(records)
                progress(f"replayed {n} records")
            index_shadow(conn, group)
            for _ in range(3):  # what arrived during the replay and the indexing
                more = _catch_up(p, conn, bootstrap, topic)
                n += more
                if more == 0:
                    break
            progress(f"caught up at {n} records; swapping")

            def close_gap(gap: dict[int, tuple[int, int]]) -> None:
                for q, (have, live) in gap.items():
                    recs = read_range(bootstrap, topic, q, have + 1, live + 1)
                    if recs:
                        p.apply(recs)

            for attempt in range(1, SWAP_ATTEMPTS + 1):
                try:
                    swap(conn, group, group.name, shadow_projector, topic, close_gap)
                    break
                except (Behind, psycopg.errors.LockNotAvailable) as e:
                    if attempt == SWAP_ATTEMPTS:
                        raise RebuildError(f"could not swap {group.name} in after {attempt} attempts: {e}") from e
                    progress(f"not swapped yet ({e}); catching up")
                    n += _catch_up(p, conn, bootstrap, topic)
        finally:
            p.close()
        counts = {t: _count(conn, t) for t in group.tables}
    return {"group": group.name, "records": n, "dead_letters_seen": len(dead), "rows": counts}
