"""The corrector: a FAILED row whose transaction commits later becomes CONFIRMED (issue 30, defect 4).

It runs in the results writer's process, in a thread with its own consumer of gx.fabric.events
(consumer group ``<app_id>-results-corrector``, committed records only). Each event of a command
becomes a sighting (streams.corrections); every ``check_s`` the outbox rows of every unsettled
sighting are read in one query, and a FAILED row naming the sighting's transaction gets a
CONFIRMED result (that transaction, its block) on gx.command-results, which the results writer
applies like any other (a CONFIRMED naming its transaction replaces any FAILED: streams.status) and
counts (``results_writer_corrections_total``). Why there:

- it needs what the results writer needs, Postgres and Kafka, and nothing else: the block
  publisher must never wait for Postgres, and a process of its own would be one more deployment,
  identity and role for a few queries a second;
- its corrections are applied by the same process, so a sighting waits for its row only as long as
  the results writer is behind, and the results writer's own role already may set any status.

Contract:
- Durable across restarts: the group's offset on a partition is never committed past a sighting
  that is not settled (waiting for its row to be final, or its correction not yet acknowledged by
  Kafka); a restart reads those events again. A correction is published before any offset past
  its event is committed, so it may be published twice (after a crash), never lost; applying it
  twice changes nothing.
- Cheap: one query per check (chunks of 5000 keys), by the outbox's unique (tenantId, requestId)
  index, however many events arrived; the events are read from their headers, not parsed.
- A sighting waits while its row is not final (the submitter's result not written yet), or is
  FAILED without naming its transaction (a replay's CONFIRMED may be on its way), at most
  ``watch_s``; then it is given up, counted and logged: ``results_corrector_unproven_total`` for
  a FAILED row still not naming it (never corrected from here), else
  ``results_corrector_expired_total``. Past ``max_watched`` unsettled sightings the partitions are
  paused until half have settled.
- An exception out of the loop is a bug: the thread stops and hands it to ``on_crash`` (the worker
  exits and is restarted; nothing unsettled was committed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from prometheus_client import Counter, Gauge

from gxcommon.faust_app import CONSUMER_LAG
from gxcommon.kafka import offset_of, partition_of
from gxcommon.logs import get
from schemas.envelopes import CommandResult
from streams.corrections import OutboxRow, Sighting, Watch, correction, judge, sighting_of

log = get("gx.corrector")

CORRECTIONS = Counter(
    "results_corrector_corrections",
    "CONFIRMED results published for FAILED rows whose transaction committed VALID (the block stream)",
)
UNPROVEN = Counter(
    "results_corrector_unproven",
    "FAILED rows whose (tenant, requestId) the ledger applied in a transaction the row does not name",
    ["error_code"],
)
EXPIRED = Counter(
    "results_corrector_expired", "Events given up after waiting GX_CORRECTOR_WATCH_S for their row to be final"
)
WATCHED = Gauge("results_corrector_watched", "Events of commands whose outbox row is not final yet, or not corrected")
EVENTS = Counter("results_corrector_events", "Events of gx.fabric.events read by the corrector")

AUTHORIZATION = (KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED)

Lookup = Callable[[Collection[tuple[str | None, str]]], list[OutboxRow]]
Publish = Callable[[list[CommandResult]], list[bool]]


def _headers(m: Any) -> dict[str, bytes]:
    return {k: v for k, v in (m.headers() or []) if isinstance(v, bytes)}


class Corrector:
    def __init__(
        self,
        consumer: Any,
        lookup: Lookup,
        publish: Publish,
        topic: str,
        group_id: str,
        *,
        batch: int = 1000,
        within: float = 0.2,
        check_s: float = 1.0,
        watch_s: float = 3600.0,
        max_watched: int = 100_000,
        lag_every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        on_crash: Callable[[BaseException], None] = lambda e: None,
    ) -> None:
        self.consumer, self.lookup, self.publish, self.topic, self.group_id = consumer, lookup, publish, topic, group_id
        self.batch, self.within, self.check_s, self.watch_s = batch, within, check_s, watch_s
        self.max_watched, self.lag_every, self.clock, self.on_crash = max_watched, lag_every, clock, on_crash
        self.watch = Watch()
        self.committed: dict[int, int] = {}  # partition -> the offset this loop last committed
        self.paused: set[int] = set()
        self._unproven: dict[Sighting, tuple[OutboxRow, ...]] = {}  # waiting sightings' unproven rows
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.refused: str | None = None  # Kafka's last authorization error, until a record is read
        self.assigned = False
        now = clock()
        self._next_check, self._next_lag = now + check_s, now + lag_every
        self._lag_partitions: set[int] = set()

    # -- the thread ---------------------------------------------------------------------------------
    def run(self) -> None:
        """Until :meth:`stop`: read, check, publish, commit. Closes the consumer at the end."""
        try:
            self.consumer.subscribe([self.topic], on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._lost)
            while not self.stopping.is_set():
                self.step()
            self.commit()  # what is settled; no last lookup (Postgres may be what is away)
        except Exception as e:  # a bug: nothing unsettled was committed; the worker stops, a restart reads again
            self.error = e
            log.error("corrector stopped by an unexpected error", error=f"{type(e).__name__}: {e}")
            self.on_crash(e)
        finally:
            try:
                self.consumer.close()
            except Exception as e:  # leaving the group failed: the session timeout ends it
                log.warning("corrector's consumer not closed cleanly", error=f"{type(e).__name__}: {e}")

    def stop(self) -> None:
        self.stopping.set()

    def step(self) -> None:
        """One round: take what has arrived (at most ``within`` s of waiting), and every
        ``check_s`` check the unsettled sightings, commit and pause or resume."""
        self._take()
        now = self.clock()
        if now >= self._next_check:
            self._next_check = now + self.check_s
            self.check(now)
            self.commit()
            self._throttle()
        if now >= self._next_lag:
            self._next_lag = now + self.lag_every
            self._report_lag()

    def check(self, now: float) -> None:
        """Read the rows of every unsettled sighting (one query), publish the corrections they
        call for, settle what is done, give up what waited too long."""
        pending = self.watch.pending()
        if pending:
            rows: dict[str, list[OutboxRow]] = {}
            for r in self.lookup({s.key for s in pending}):
                rows.setdefault(r.request_id, []).append(r)
            todo: list[tuple[Sighting, CommandResult]] = []
            for s in pending:
                j = judge(s, rows.get(s.request_id, ()))
                self._unproven.pop(s, None)
                if j.correct:
                    todo += [(s, correction(r, s)) for r in j.correct]
                elif j.settled:
                    self.watch.settle(s)
                elif j.unproven:
                    self._unproven[s] = j.unproven
            self._publish(todo)
        for s in self.watch.expired(now, self.watch_s):
            self._give_up(s, self._unproven.pop(s, ()))
        WATCHED.set(len(self.watch))

    def commit(self) -> None:
        """Commit each partition's offset up to its first unsettled sighting, if it moved."""
        moved = {p: o for p, o in self.watch.committable().items() if o > self.committed.get(p, -1)}
        if not moved:
            return
        try:
            self.consumer.commit(
                offsets=[TopicPartition(self.topic, p, o) for p, o in sorted(moved.items())], asynchronous=True
            )
            self.committed.update(moved)
        except KafkaException as e:  # no longer a member: the next owner reads those events again
            log.warning("corrector offsets not committed", error=str(e))

    # -- internals ----------------------------------------------------------------------------------
    def _take(self) -> None:
        now = self.clock()
        n = 0
        for m in self.consumer.consume(self.batch, self.within):
            err = m.error()
            if err is not None:
                if err.fatal():
                    raise KafkaException(err)
                if err.code() in AUTHORIZATION:  # an ACL missing: said on /readyz until a record comes
                    self.refused = str(err)
                log.warning("corrector's consumer error", error=str(err))  # librdkafka retries these itself
                continue
            self.refused = None
            p, o = partition_of(m), offset_of(m)
            self.watch.read(p, o)
            n += 1
            s = sighting_of(p, o, _headers(m), m.value() or b"")
            if s is not None:
                self.watch.add(s, now)
        EVENTS.inc(n)

    def _give_up(self, s: Sighting, unproven: tuple[OutboxRow, ...]) -> None:
        """``s`` waited ``watch_s``: counted and logged, as unproven rows or as a row not final."""
        for r in unproven:
            UNPROVEN.labels(r.error_code or "").inc()
            log.warning(
                "a FAILED row's command was applied by a transaction it does not name; not corrected",
                requestId=s.request_id,
                tenantId=s.tenant,
                commandId=r.id,
                errorCode=r.error_code,
                txId=s.tx_id,
                block=s.block,
            )
        if not unproven:
            EXPIRED.inc()
            log.warning(
                "event given up: its command's row was not final in time",
                requestId=s.request_id,
                tenantId=s.tenant,
                txId=s.tx_id,
                block=s.block,
                watch_s=self.watch_s,
            )

    def _publish(self, todo: list[tuple[Sighting, CommandResult]]) -> None:
        if not todo:
            return
        delivered = self.publish([c for _, c in todo])
        undelivered = {s for (s, _), ok in zip(todo, delivered, strict=True) if not ok}
        for (_, c), ok in zip(todo, delivered, strict=True):
            if ok:
                CORRECTIONS.inc()
                log.warning(
                    "FAILED row's transaction committed: CONFIRMED published",
                    requestId=c.requestId,
                    commandId=c.commandId,
                    txId=c.fabricTxId,
                    block=c.commitBlock,
                )
        for s in {s for s, _ in todo} - undelivered:  # the others are tried again at the next check
            self.watch.settle(s)

    def _throttle(self) -> None:
        n = len(self.watch)
        if n >= self.max_watched or (self.paused and n >= self.max_watched / 2):
            new = [tp for tp in self.consumer.assignment() if tp.partition not in self.paused]
            if new:
                self.consumer.pause(new)
                self.paused.update(tp.partition for tp in new)
                log.warning("corrector paused: too many events wait for their rows", watched=n)
        elif self.paused:
            self.consumer.resume([tp for tp in self.consumer.assignment() if tp.partition in self.paused])
            self.paused.clear()

    def _report_lag(self) -> None:
        """``consumer_lag_records`` of the assigned partitions (librdkafka's cached watermarks)."""
        try:
            assigned = {tp.partition: tp for tp in self.consumer.assignment()}
            for p in self._lag_partitions - set(assigned):
                CONSUMER_LAG.remove(self.group_id, self.topic, str(p))
            self._lag_partitions = set()
            for p, tp in assigned.items():
                _, high = self.consumer.get_watermark_offsets(tp, cached=True)
                done = self.committed.get(p)
                if done is None:
                    done = self.consumer.position([tp])[0].offset
                if high < 0 or done < 0:
                    continue
                CONSUMER_LAG.labels(self.group_id, self.topic, str(p)).set(max(0, high - done))
                self._lag_partitions.add(p)
        except KafkaException as e:  # the broker is away: the next report tries again
            log.debug("corrector's consumer lag not read", error=str(e))

    def _forget(self, partitions: Iterable[Any]) -> None:
        gone = [tp.partition for tp in partitions]
        self.watch.forget(gone)
        self._unproven = {s: r for s, r in self._unproven.items() if s.partition not in gone}
        for p in gone:
            self.committed.pop(p, None)
            self.paused.discard(p)
        WATCHED.set(len(self.watch))

    def _assigned(self, consumer: Any, partitions: list[Any]) -> None:
        self.assigned = bool(partitions)

    def _revoked(self, consumer: Any, partitions: list[Any]) -> None:
        """Commit what is settled, then forget the partitions: the next owner reads their unsettled
        events again. No lookup here: with Postgres away it would hold the whole group's rebalance."""
        self.assigned = False
        self.commit()
        self._forget(partitions)

    def _lost(self, consumer: Any, partitions: list[Any]) -> None:
        self.assigned = False
        self._forget(partitions)  # no longer a member: a commit would be refused


def install(
    app: Any,
    *,
    bootstrap: str,
    events_topic: str,
    results_topic: str,
    dsn: str,
    group_id: str,
    auto_offset_reset: str = "earliest",
    session_timeout_s: float = 10.0,
    check_s: float = 1.0,
    watch_s: float = 3600.0,
) -> list[Corrector]:
    """Run the corrector in ``app`` (the results writer's Faust app): its thread started with the
    app, stopped (what is settled committed) before it shuts down; a readiness check
    ``results-corrector``. Returns a list that holds the loop once the app has started."""
    import asyncio

    import psycopg

    from gxcommon import web
    from gxcommon.kafka import Consumer, events_consumer_conf
    from streams.corrector_io import OutboxLookup, ResultPublisher

    box: list[Corrector] = []
    lookups: list[OutboxLookup] = []
    threads: list[threading.Thread] = []

    def ready() -> str | None:
        if not box:
            return "not started"
        if box[0].error is not None:
            return f"stopped: {type(box[0].error).__name__}"
        if box[0].refused is not None:
            return f"gx.fabric.events not readable: {box[0].refused}"
        if lookups and lookups[0].failures >= 3:
            return f"outbox not read after {lookups[0].failures} attempt(s); retrying (see the log)"
        return None

    web.add_check(app, "results-corrector", ready)

    @app.task
    async def start() -> None:
        running = asyncio.get_running_loop()

        def crash(e: BaseException) -> None:
            asyncio.run_coroutine_threadsafe(app.crash(e), running)

        lookup = OutboxLookup(lambda: psycopg.connect(dsn, autocommit=True))
        lookups.append(lookup)
        loop = Corrector(
            Consumer(events_consumer_conf(bootstrap, group_id, auto_offset_reset, session_timeout_s)),
            lookup,
            ResultPublisher(bootstrap, results_topic),
            events_topic,
            group_id,
            check_s=check_s,
            watch_s=watch_s,
            on_crash=crash,
        )
        box.append(loop)
        t = threading.Thread(target=loop.run, name="results-corrector", daemon=True)
        threads.append(t)
        t.start()

    @app.on_before_shutdown.connect
    async def stop(app_: Any, **_: Any) -> None:
        for loop in box:
            loop.stop()
        for t in threads:
            await asyncio.to_thread(t.join, 30)
        for lookup in lookups:
            lookup.close()

    return box
