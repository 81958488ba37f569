"""One projection group's loop, run in a thread of its own: its own Kafka consumer (its own
consumer group, ``<app_id>-projector-<group>``) and its own writer (projections.runner: its
connection and its checkpoints). Several loops share a process (`gxctl run projectors`) and
nothing else: a group whose database writes fail stalls only itself.

Contract:
- The database is the truth for where to resume: each partition handed to this loop is read from
  right after its stored checkpoint (offset 0 without one), whatever Kafka's committed offsets or
  ``auto.offset.reset`` say, so no record between a checkpoint and the first batch is ever
  skipped. A batch's offsets are also committed to Kafka, only after the batch and its
  checkpoints are committed in the database (asynchronously: they serve lag reports and tools).
- Stages overlap: batch N is sent in pipeline mode; while the server writes it, the records
  librdkafka has already fetched are taken and prepared as batch N+1; with nothing more, N is
  finished at once (no added latency when the stream is quiet).
- Batches of other groups' events only are held (projections.hold), up to ``hold_s``.
- On a revoke (a rebalance, the shutdown) what is held and in flight is written and committed
  first; on a lost assignment it is written, not committed.
- Every ``resync_every`` s the writer looks for checkpoints moved back (Projector.resync).
- Any exception out of the writer (which retries outages and dead-letters bad records itself) is a
  bug: :meth:`GroupLoop.run` stops and hands it to ``on_crash``; nothing unwritten was committed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from confluent_kafka import KafkaException, TopicPartition

from gxcommon.faust_app import CONSUMER_LAG
from gxcommon.logs import get
from projections import metrics
from projections.hold import Hold
from projections.kafka_io import to_record
from projections.model import Prepared, Record
from projections.runner import Pending, Projector

log = get("gx.projector")


def ends(records: Sequence[Record]) -> dict[int, int]:
    """partition -> the next offset to read after ``records`` (what Kafka's commit stores)."""
    out: dict[int, int] = {}
    for r in records:
        if r.offset + 1 > out.get(r.partition, -1):
            out[r.partition] = r.offset + 1
    return out


class GroupLoop:
    def __init__(
        self,
        runner: Projector,
        consumer: Any,
        topic: str,
        group_id: str,
        *,
        batch: int = 2000,
        within: float = 0.1,
        hold_s: float = 1.0,
        resync_every: float = 2.0,
        lag_every: float = 5.0,
        on_crash: Callable[[BaseException], None] = lambda e: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runner, self.consumer, self.topic, self.group_id = runner, consumer, topic, group_id
        self.batch, self.within, self.resync_every, self.lag_every = batch, within, resync_every, lag_every
        self.on_crash, self.clock = on_crash, clock
        self.hold = Hold(runner.group, hold_s, 20 * batch)
        self.pending: tuple[Pending, list[Record], float] | None = None
        self.stopping = threading.Event()
        self.committed: dict[int, int] = {}  # partition -> next offset committed to Kafka by this loop
        self.error: BaseException | None = None
        self.assigned = False  # holds partitions (readiness)
        now = clock()
        self._next_resync, self._next_lag = now + resync_every, now + lag_every
        self._lag_partitions: set[int] = set()

    @property
    def name(self) -> str:
        return self.runner.name

    # -- the thread ---------------------------------------------------------------------------------
    def run(self) -> None:
        """Until :meth:`stop`: consume, write, commit. Closes the consumer (leaving the group) at the end."""
        try:
            self.consumer.subscribe([self.topic], on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._lost)
            while not self.stopping.is_set():
                self.step()
            self.flush(commit=True)
        except Exception as e:  # a bug: nothing unwritten was committed; the process stops, a restart replays
            self.error = e
            log.error("projector stopped by an unexpected error", projector=self.name, error=f"{type(e).__name__}: {e}")
            self.on_crash(e)
        finally:
            try:
                self.consumer.close()
            except Exception as e:  # leaving the group failed: the session timeout ends it
                log.warning("consumer not closed cleanly", projector=self.name, error=f"{type(e).__name__}: {e}")
            self.runner.close()

    def stop(self) -> None:
        self.stopping.set()

    def step(self) -> None:
        """One round: take what has arrived (waiting at most ``within``, or not at all while a batch
        is in flight), prepare and send it; finish or release what waits; the periodic chores."""
        if self.pending is not None:
            wait = 0.0
        elif self.hold.deadline is not None:
            wait = min(self.within, max(0.0, self.hold.deadline - self.clock()))
        else:
            wait = self.within
        records = self._take(wait)
        if records:
            out = self.hold.add(records, records, self.runner.after, self.clock())
            if out is not None:
                self._send(*out)
            elif self.pending is not None:  # held: what is in flight is committed now, not later
                self._finish()
        elif self.pending is not None:
            self._finish()
        elif self.hold.deadline is not None and self.clock() >= self.hold.deadline:
            self._release()
        now = self.clock()
        if now >= self._next_resync:
            self._next_resync = now + self.resync_every
            self.flush(commit=True)
            self._resync()
        if now >= self._next_lag:
            self._next_lag = now + self.lag_every
            self._report_lag()

    def flush(self, commit: bool) -> None:
        """Write what is held and in flight; commit its offsets to Kafka if ``commit``."""
        self._release(commit)
        if self.pending is not None:
            self._finish(commit)

    # -- internals ----------------------------------------------------------------------------------
    def _take(self, wait: float) -> list[Record]:
        out = []
        for m in self.consumer.consume(self.batch, wait):
            err = m.error()
            if err is None:
                out.append(to_record(m))
            elif err.fatal():
                raise KafkaException(err)
            else:  # librdkafka retries these itself (a broker away, a leader moving)
                log.warning("consumer error", projector=self.name, error=str(err))
        return out

    def _send(self, prepared: Prepared, records: list[Record], commit: bool = True) -> None:
        self.runner.adopt(prepared)  # prepared while the server works on the batch before
        if self.pending is not None:
            self._finish(commit)
        self.pending = (self.runner.begin(prepared), records, time.perf_counter())

    def _finish(self, commit: bool = True) -> None:
        assert self.pending is not None
        sent, records, t0 = self.pending
        self.pending = None
        gaps_before = self.runner.gaps_replayed
        done = self.runner.end(sent)
        metrics.BATCH_SECONDS.labels(self.name).observe(time.perf_counter() - t0)
        metrics.GAP_RECORDS.labels(self.name).inc(self.runner.gaps_replayed - gaps_before)
        metrics.observe(self.name, done)
        if commit:
            self._commit(records)

    def _release(self, commit: bool = True) -> None:
        out = self.hold.release()
        if out is not None:
            self._send(*out, commit=commit)

    def _commit(self, records: Sequence[Record]) -> None:
        offsets = ends(records)
        if not offsets:
            return
        try:
            self.consumer.commit(
                offsets=[TopicPartition(self.topic, p, o) for p, o in sorted(offsets.items())], asynchronous=True
            )
            self.committed.update(offsets)
        except KafkaException as e:  # no longer a member: the next owner re-reads, the checkpoints skip
            log.warning("offsets not committed to Kafka", projector=self.name, error=str(e))

    def _resync(self) -> None:
        gaps_before = self.runner.gaps_replayed
        try:
            self.runner.resync()
        except Exception as e:  # the database or Kafka is away: the next round tries again
            log.warning("resync skipped", projector=self.name, error=f"{type(e).__name__}: {e}")
        metrics.GAP_RECORDS.labels(self.name).inc(self.runner.gaps_replayed - gaps_before)

    def _report_lag(self) -> None:
        """``consumer_lag_records`` for the partitions assigned to this loop (dropped when revoked).
        The high watermarks are librdkafka's cached ones (from the last fetch): asking the broker
        blocked the loop 1-2.7 s every report (measured), the projection lag's p99."""
        try:
            assigned = {tp.partition: tp for tp in self.consumer.assignment()}
            for p in self._lag_partitions - set(assigned):
                CONSUMER_LAG.remove(self.group_id, self.topic, str(p))
            self._lag_partitions = set()
            for p, tp in assigned.items():
                _, high = self.consumer.get_watermark_offsets(tp, cached=True)
                done = self.committed.get(p)
                if done is None:  # nothing committed by this loop yet (an idle partition): where it reads
                    done = self.consumer.position([tp])[0].offset
                if high < 0 or done < 0:
                    continue
                CONSUMER_LAG.labels(self.group_id, self.topic, str(p)).set(max(0, high - done))
                self._lag_partitions.add(p)
        except KafkaException as e:  # the broker is away: the next report tries again
            log.debug("consumer lag not read", projector=self.name, error=str(e))

    def _assigned(self, consumer: Any, partitions: list[Any]) -> None:
        """Position each partition right after its stored checkpoint (the writer's database)."""
        at = self._start_points([tp.partition for tp in partitions])
        for tp in partitions:
            tp.offset = at[tp.partition]
        consumer.assign(partitions)
        self.assigned = bool(partitions)

    def _start_points(self, partitions: list[int]) -> dict[int, int]:
        """The writer's start points; the database away is waited for here (nothing can be
        written without it anyway), with backoff, until the loop stops."""
        backoff = 0.1
        while True:
            try:
                return self.runner.start_at(partitions)
            except psycopg.Error as e:
                if self.stopping.is_set():
                    raise
                log.warning("checkpoints not read, retrying", projector=self.name, error=f"{type(e).__name__}: {e}")
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _revoked(self, consumer: Any, partitions: list[Any]) -> None:
        self.assigned = False
        self.flush(commit=True)

    def _lost(self, consumer: Any, partitions: list[Any]) -> None:
        self.assigned = False
        self.flush(commit=False)  # no longer a member: a commit would be refused
