"""`gxctl projections rebuild GROUP`: replay a group from offset 0 into shadow tables, then swap.

1. Shadow tables ``"<Table>__rebuild"`` are made like the live ones (columns, defaults, CHECKs and
   keys; secondary indexes come after the bulk load, which is faster), with checkpoints of their own
   (projector ``<group>@rebuild``). Leftovers of an interrupted rebuild are dropped first.
2. Every committed record of gx.fabric.events is folded into them by the same code as the live
   projector, then the rebuild catches up with what arrived meanwhile.
   What arrived meanwhile is read and written ``chunk`` records at a time (each its own
   transaction), until the shadow is within ``SWAP_GAP`` records of the topic's end.
3. One transaction swaps them in: it locks the group's live checkpoints (the live projector's next
   batch waits) and checks that the shadow's checkpoints are at or past the live ones on every
   partition: a shadow behind would make balances go back and writes that `projections wait`
   reported vanish until the live projector replayed the gap. Under load the live projector moves on
   between any catch-up and the swap, so a short gap is closed inside the swap: with the live
   checkpoints locked, the shadow applies the records up to them (its own transactions, chunked),
   and the check is made again. A gap longer than ``SWAP_GAP`` is not applied under the locks: the
   transaction rolls back, the shadow catches up outside, and the swap is tried again. Then the
   shadow's dead letters past the live checkpoints are sent (below), it gives the shadow tables the
   live ones' grants, drops the live tables, renames the shadow tables, their keys and indexes to
   the live names, and moves the shadow checkpoints to the group. Its locks are taken with a
   timeout (``LOCK_TIMEOUT``), so readers never queue behind a swap waiting for a long reader: it
   gives up, catches up and tries again. A reader blocked for the swap's own moment then reads the
   new table: never an empty, half-built or older one.
4. The live projector's next batch finds its checkpoints moved and carries on from them (runner).

Dead letters (:class:`ShadowDeadLetters`): one the shadow finds for a record the live projector
has already passed is dropped (the live projector sent it); the others are held and sent inside
the swap, under its locks, for the records still past the live checkpoints: the live projector
resumes after them from the shadow's checkpoints and would never see them. A dead letter not
acknowledged rolls the swap back. So each is sent once (twice at worst, if the swap fails after
sending), never lost. Interrupted before the swap, a rebuild leaves the live tables and
checkpoints untouched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import psycopg

from gxcommon.kafka import Consumer
from projections import store
from projections.errors import ProjectionError, RebuildError
from projections.kafka_io import read_all, read_range
from projections.model import DeadLetter, GroupSpec
from projections.runner import Projector

SUFFIX = "__rebuild"
LOCK_TIMEOUT = "2s"
SWAP_ATTEMPTS = 20
# The most records (by offsets) the shadow may still be behind the live checkpoints when the swap
# applies them under the live projector's locks; more is caught up outside the locks first.
SWAP_GAP = 2000


class Behind(ProjectionError):
    """The shadow's checkpoints are behind the live ones on some partitions (no swap)."""

    def __init__(self, partitions: dict[int, tuple[int, int]]) -> None:
        self.partitions = partitions  # partition -> (shadow offset, live offset)
        super().__init__(f"shadow behind the live checkpoints on {sorted(partitions)}")


class ShadowDeadLetters:
    """The shadow projector's dead-letter sink (see the module's doc). ``live()`` reads the live
    projector's checkpoints; ``send`` sends dead letters and returns once Kafka acknowledged them."""

    def __init__(self, live: Callable[[], Mapping[int, int]], send: Callable[[list[DeadLetter]], None]) -> None:
        self._live, self._send = live, send
        self.held: list[DeadLetter] = []
        self.sent = 0

    def __call__(self, dead: list[DeadLetter]) -> None:
        live = self._live()
        seen = {(d.record.partition, d.record.offset) for d in self.held}  # a batch written again
        self.held += [
            d
            for d in dead
            if d.record.offset > live.get(d.record.partition, -1) and (d.record.partition, d.record.offset) not in seen
        ]

    def flush(self, live: Mapping[int, int]) -> int:
        """Send the held dead letters of records past ``live`` (the locked live checkpoints);
        returns how many. Raises what ``send`` raises."""
        due = [d for d in self.held if d.record.offset > live.get(d.record.partition, -1)]
        if due:
            self._send(due)
        self.sent += len(due)
        self.held = []
        return len(due)


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
    send_dead: Callable[[dict[int, int]], int] | None = None,
    max_gap: int = SWAP_GAP,
) -> None:
    """Swap the shadow tables in (see the module's doc). With the live checkpoints locked (the live
    projector cannot move on), ``close_gap`` is given the partitions where the shadow is behind,
    {partition: (shadow offset, live offset)}, to apply to the shadow in transactions of its own,
    if they are ``max_gap`` records (offsets) or fewer in all; then ``send_dead`` is given the
    live checkpoints, to send the shadow's dead letters past them. Behind if the shadow is still
    behind the live checkpoints (or too far to close under the locks); psycopg.errors.LockNotAvailable
    after LOCK_TIMEOUT; whatever ``send_dead`` raises; nothing changed in any case."""
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
        if gap and close_gap is not None and sum(live - have for have, live in gap.values()) <= max_gap:
            close_gap(gap)
            gap = behind()
        if gap:
            raise Behind(gap)
        if send_dead is not None:
            send_dead(live)
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


def _ends(bootstrap: str, topic: str) -> dict[int, int]:
    """partition -> the topic's end offset (high watermark) now."""
    from confluent_kafka import TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "gx-rebuild-ends", "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return {q: c.get_watermark_offsets(TopicPartition(topic, q), timeout=10)[1] for q in parts}
    finally:
        c.close()


def _catch_up(p: Projector, conn: psycopg.Connection[Any], bootstrap: str, topic: str) -> int:
    """Apply what arrived after the shadow's checkpoints, ``p.chunk`` records per read and per
    transaction; returns the records applied."""
    stored = store.checkpoints(conn, p.name, topic)
    return sum(p.replay_range(q, stored.get(q, -1) + 1, end) for q, end in _ends(bootstrap, topic).items())


def _distance(conn: psycopg.Connection[Any], shadow_projector: str, bootstrap: str, topic: str) -> int:
    """Offsets between the shadow's checkpoints and the topic's end, over every partition."""
    stored = store.checkpoints(conn, shadow_projector, topic)
    return sum(max(0, end - 1 - stored.get(q, -1)) for q, end in _ends(bootstrap, topic).items())


def rebuild(
    dsn: str,
    bootstrap: str,
    group: GroupSpec,
    topic: str,
    channel: str,
    dlq_topic: str,
    progress: Callable[[str], None] = lambda line: None,
    batch: int = 5000,
) -> dict[str, Any]:
    """Rebuild ``group``'s tables from offset 0 and swap them in. Raises RebuildError."""
    from projections.kafka_io import DeadLetterSender

    shadow_projector = f"{group.name}@rebuild"
    with psycopg.connect(dsn, autocommit=True) as conn:  # each step is its own transaction
        create_shadow(conn, group, shadow_projector)
        dead = ShadowDeadLetters(
            lambda: store.checkpoints(conn, group.name, topic), DeadLetterSender(bootstrap, dlq_topic, group.name)
        )
        p = Projector(
            group,
            shadow_projector,
            channel,
            topic,
            lambda: psycopg.connect(dsn),
            lambda t, q, start, end: read_range(bootstrap, t, q, start, end),
            dead,
            tables=store.table_names(group, SUFFIX),
        )
        try:
            n = 0
            for records in read_all(bootstrap, topic, batch):
                p.apply(records)
                n += len(records)
                progress(f"replayed {n} records")
            index_shadow(conn, group)

            def catch_up() -> int:
                """What arrived during the replay, the indexing or a failed swap, in chunks,
                until the shadow is within SWAP_GAP of the end (the rest is closed in the swap)."""
                more = 0
                for _ in range(100):
                    more += _catch_up(p, conn, bootstrap, topic)
                    if _distance(conn, shadow_projector, bootstrap, topic) <= SWAP_GAP:
                        break
                return more

            n += catch_up()
            progress(f"caught up at {n} records; swapping")

            def close_gap(gap: dict[int, tuple[int, int]]) -> None:
                for q, (have, live) in gap.items():
                    p.replay_range(q, have + 1, live + 1)

            for attempt in range(1, SWAP_ATTEMPTS + 1):
                try:
                    swap(conn, group, group.name, shadow_projector, topic, close_gap, dead.flush)
                    break
                except (Behind, psycopg.errors.LockNotAvailable) as e:
                    if attempt == SWAP_ATTEMPTS:
                        raise RebuildError(f"could not swap {group.name} in after {attempt} attempts: {e}") from e
                    progress(f"not swapped yet ({e}); catching up")
                    n += catch_up()
                except RuntimeError as e:  # dead letters not acknowledged: the swap rolled back
                    if attempt == SWAP_ATTEMPTS:
                        raise RebuildError(f"could not swap {group.name} in: {e}") from e
                    progress(f"not swapped yet ({e}); trying again")
        finally:
            p.close()
        counts = {t: _count(conn, t) for t in group.tables}
    return {"group": group.name, "records": n, "dead_letters_sent": dead.sent, "rows": counts}
