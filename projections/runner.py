"""One group's writer: prepare a batch, commit it, and never lose or skip an offset. Synchronous
(a group's loop runs it in its thread, projections.loop; rebuilds, benchmarks and tests call it directly).

- The batch is prepared against the checkpoints this writer expects (its own last commit), and the
  commit checks them under lock. When they moved (a rebuild's swap, a restored database, another
  instance) the records between the stored checkpoint and the batch are read back from Kafka and
  written first, ``chunk`` records per transaction (a restored backup can put millions of records
  between them: never all in memory, never one transaction), then the batch is prepared again
  from where they end: a gap is replayed, never jumped.
- A database that cannot be reached, a dead letter that cannot be sent, or records between a
  moved checkpoint and the batch that Kafka cannot give back for a moment, are retried in place
  with backoff, forever: the batch is never acknowledged before it is written.
- A batch refused for a record's own data (projections.db_errors: SQLSTATE classes 21, 22, 23 and
  54, or a client-side refusal such as psycopg's NUL check, which has no SQLSTATE) is split in
  halves, each written on its own, until the one record that fails alone is found: it is
  dead-lettered (APPLY_ERROR, with the error's type, SQLSTATE and message) and the partition goes
  on. Any other error (a connection lost, a shutdown, a lock timeout, a missing table) affects
  every record: retried in place like an outage, never split.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from gxcommon.logs import get
from projections import metrics, store
from projections.db_errors import Blame, blame_of, describe
from projections.errors import CheckpointMoved, GapReadError, ProjectionError
from projections.hold import merge
from projections.model import DeadLetter, GroupSpec, Prepared, Record
from projections.prepare import dead_only, prepare

log = get("gx.projector")

ReadRange = Callable[[str, int, int, int], list[Record]]


@dataclass
class Pending:
    """A batch sent to the server; ``finish`` waits for it (None: it could not be sent)."""

    batch: Prepared
    finish: Callable[[], None] | None


class DeadLetterFailed(ProjectionError):
    """Dead letters were not acknowledged by Kafka; the batch is not committed (retried)."""


class Projector:
    def __init__(
        self,
        group: GroupSpec,
        name: str,
        channel: str,
        topic: str,
        connect: Callable[[], psycopg.Connection[Any]],
        read_range: ReadRange,
        dead_letter: Callable[[list[DeadLetter]], None],
        tables: dict[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_backoff: float = 5.0,
        chunk: int = 2000,
    ) -> None:
        self.group, self.name, self.channel, self.topic = group, name, channel, topic
        self._connect, self._read_range, self._dead_letter = connect, read_range, dead_letter
        self.tables = tables or store.table_names(group)
        self._sleep, self._max_backoff, self.chunk = sleep, max_backoff, chunk
        self._conn: psycopg.Connection[Any] | None = None
        self.after: dict[int, int] = {}  # partition -> offset this writer expects to be stored
        self.transient_failures = 0  # consecutive; 0 when the last commit went through
        metrics.BATCH_RETRIES.labels(name).set(0)
        self.gaps_replayed = 0
        self.records_dead = 0
        # (partition, offset) of dead letters Kafka acknowledged for records not committed yet: a
        # batch written again (halved, retried, re-prepared) does not send them twice.
        self._dead_sent: set[tuple[int, int]] = set()

    # -- the two steps ------------------------------------------------------------------------------
    def prepare(self, records: Sequence[Record]) -> Prepared:
        """Prepare against the expected checkpoints (pure work; may overlap the previous commit)."""
        return self.adopt(prepare(self.group, records, self.after))

    def adopt(self, batch: Prepared) -> Prepared:
        """Take ``batch``, prepared by the caller against :attr:`after`, as the next one to write."""
        self.after.update(batch.last_offset)
        return batch

    def commit(self, batch: Prepared) -> Prepared:
        """Write ``batch``; returns what was finally written (re-prepared if checkpoints had moved)."""
        backoff = 0.1
        while True:
            error: Exception
            try:
                store.commit(self.conn(), self.name, self.channel, self.topic, batch, self.tables, self._send_dead)
                return self._done(batch)
            except CheckpointMoved as moved:
                try:
                    batch = self._replay_from(batch.records, moved.stored)
                    continue
                except GapReadError as e:  # Kafka away for a moment: the next attempt replays from the store
                    error = e
            except (psycopg.Error, UnicodeError) as e:  # UnicodeError: a string with no UTF-8 form
                if blame_of(e) is Blame.RECORD:
                    return self._split(batch, e)
                error = e
            except DeadLetterFailed as e:
                error = e
            self.transient_failures += 1
            metrics.BATCH_RETRIES.labels(self.name).set(self.transient_failures)  # the alert GxProjectorBatchRetrying
            log.warning(
                "batch not written, retrying",
                projector=self.name,
                error=describe(error),
                retry_in_s=backoff,
                attempt=self.transient_failures,
            )
            self._drop_conn()
            self._sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    def apply(self, records: Sequence[Record]) -> Prepared:
        return self.commit(self.prepare(records))

    # -- overlapped: the server writes batch N while batch N+1 is parsed and folded ----------------
    def begin(self, batch: Prepared) -> Pending:
        """Send ``batch`` without waiting (store.send). Never raises: what cannot be sent is
        written the careful way by :meth:`end`."""
        try:
            return Pending(
                batch, store.send(self.conn(), self.name, self.channel, self.topic, batch, self.tables, self._send_dead)
            )
        except Exception:  # down, or dead letters not acknowledged: end() retries, with its log lines
            if self._conn is not None and self._conn.closed:
                self._drop_conn()
            return Pending(batch, None)

    def end(self, pending: Pending) -> Prepared:
        """Wait for a batch :meth:`begin` sent; on any failure, write it through :meth:`commit`
        (which retries, replays from moved checkpoints, or dead-letters refused records)."""
        if pending.finish is not None:
            try:
                pending.finish()
                return self._done(pending.batch)
            except Exception:  # rolled back, nothing written: the careful path sorts out why
                if self._conn is not None and self._conn.closed:
                    self._drop_conn()
        return self.commit(pending.batch)

    def apply_all(
        self, batches: Iterable[Sequence[Record]], on_done: Callable[[Prepared], None] = lambda done: None
    ) -> None:
        """Write every batch, overlapping each one's parse and fold with the previous one's write."""
        pending: Pending | None = None
        for records in batches:
            batch = self.prepare(records)
            if pending is not None:
                on_done(self.end(pending))
            pending = self.begin(batch)
        if pending is not None:
            on_done(self.end(pending))

    def _done(self, batch: Prepared) -> Prepared:
        # self.after already holds where this batch ends (set when it was prepared), and maybe
        # where later batches end: never move it back here.
        if self.transient_failures:
            metrics.BATCH_RETRIES.labels(self.name).set(0)
        self.transient_failures = 0
        self.records_dead += len(batch.dead)
        if self._dead_sent:
            self._dead_sent.difference_update((r.partition, r.offset) for r in batch.records)
        return batch

    def start_at(self, partitions: Iterable[int]) -> dict[int, int]:
        """Where each of ``partitions`` must be read from when this writer is handed it: right after
        its stored checkpoint (offset 0 without one), never where Kafka's committed offsets or
        ``auto.offset.reset`` would put it. The writer expects those checkpoints from then on."""
        stored = store.checkpoints(self.conn(), self.name, self.topic)
        at = {}
        for p in partitions:
            self.after[p] = stored.get(p, -1)
            at[p] = self.after[p] + 1
        return at

    def resync(self) -> int:
        """Replay partitions whose stored checkpoint fell behind this writer's (a database restored
        from an older backup, a rebuild swapped in) even when no new record arrives for them.
        Returns the records replayed."""
        stored = store.checkpoints(self.conn(), self.name, self.topic)
        replayed = 0
        for p, expected in sorted(self.after.items()):
            s = stored.get(p, -1)
            if s > expected:
                self.after[p] = s  # applied by someone else meanwhile: skip up to there
            elif s < expected:
                self.after[p] = s
                log.warning(
                    "checkpoint fell behind, replaying", projector=self.name, partition=p, start=s + 1, end=expected + 1
                )
                replayed += self.replay_range(p, s + 1, expected + 1)
        return replayed

    def replay_range(self, partition: int, start: int, end: int) -> int:
        """Read back and write the records of ``[start, end)``, ``chunk`` at a time; returns how many."""
        n = 0
        while start < end:
            gap = self._read_range(self.topic, partition, start, min(end, start + self.chunk))
            if not gap:
                break
            self.gaps_replayed += len(gap)
            n += len(gap)
            self.commit(self.prepare(gap))
            start = gap[-1].offset + 1
        return n

    # -- internals ----------------------------------------------------------------------------------
    def _replay_from(self, records: Sequence[Record], stored: dict[int, int]) -> Prepared:
        """Write the records between each stored checkpoint and the batch (read back from Kafka,
        ``chunk`` at a time), then re-prepare ``records`` from where they end."""
        stored = {p: stored.get(p, -1) for p in {r.partition for r in records}}  # no row: nothing applied
        self.after.update(stored)
        for p, s in sorted(stored.items()):
            first = min(r.offset for r in records if r.partition == p)
            if first > s + 1:
                log.warning(
                    "checkpoint behind the batch, replaying the records between",
                    projector=self.name,
                    partition=p,
                    start=s + 1,
                    end=first,
                )
                self.replay_range(p, s + 1, first)
        return self.prepare(records)

    def _split(self, batch: Prepared, error: BaseException) -> Prepared:
        """Write ``batch``, refused for a record's data, in halves (each its own transaction, in
        order) until the record that fails alone is found and dead-lettered. Returns what was
        written, merged."""
        fresh = [r for r in batch.records if r.offset > batch.after[r.partition]]
        if len(fresh) <= 1:
            log.error(
                "record refused by the database, dead-lettered",
                projector=self.name,
                error=describe(error),
                partition=fresh[0].partition if fresh else None,
                offset=fresh[0].offset if fresh else None,
            )
            dead = dead_only(batch.records, batch.after, "APPLY_ERROR", describe(error))
            self.after.update(dead.last_offset)
            return self.commit(dead)
        self.after.update(batch.after)  # back to where the refused batch started
        mid = len(fresh) // 2
        first = self.commit(self.prepare(fresh[:mid]))
        return merge(first, self.commit(self.prepare(fresh[mid:])))

    def _send_dead(self, dead: list[DeadLetter]) -> None:
        due = [d for d in dead if (d.record.partition, d.record.offset) not in self._dead_sent]
        if not due:
            return
        try:
            self._dead_letter(due)
        except Exception as e:
            raise DeadLetterFailed(f"dead letters not sent: {e}") from e
        self._dead_sent.update((d.record.partition, d.record.offset) for d in due)

    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            conn = self._connect()
            # Each batch is its own explicit transaction (conn.transaction()); a lone read must
            # never leave one open around it.
            conn.autocommit = True
            self._conn = conn
        return self._conn

    def _drop_conn(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # closing a broken connection may fail too; it is gone either way
                pass
        self._conn = None

    def close(self) -> None:
        self._drop_conn()
