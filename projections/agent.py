"""A projection group as a Faust agent: gx.fabric.events -> that group's read models.

The database is the truth for where to resume (projections.runner): each batch (up to ``batch``
events or ``within`` seconds) is written with its checkpoints in one transaction, and its events are
acknowledged to Faust only after that commit, so Kafka's committed offset never passes an event
that is not in the database. A batch that fails is retried in place, never acknowledged.

Stages overlap: a writer thread owns the database connection; it sends batch N in pipeline mode
and parses and folds batch N+1 while the server writes N (projections.runner). Before the worker joins its group,
:func:`align_group_offsets` moves the group's committed offsets back to the checkpoints + 1 where
the database is behind Kafka (a restored backup), so the replay starts there; a checkpoint moved
while the worker runs is caught by the runner's check and replayed from Kafka directly.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from typing import Any

import faust
import psycopg
from confluent_kafka import TopicPartition
from gxcommon.kafka import Consumer
from prometheus_client import Counter, Gauge, Histogram

from gxcommon import web
from gxcommon.logs import get
from projections.hold import Hold
from projections.kafka_io import DeadLetterSender, read_range
from projections.model import GroupSpec, Prepared, Record
from projections.runner import Pending, Projector

log = get("gx.projector")

EVENTS = Counter("projector_events_processed", "Events folded into read models", ["projector", "event_type"])
ERRORS = Counter("projector_processing_errors", "Events dead-lettered", ["projector", "error_type"])
BATCH_SECONDS = Histogram("projector_event_processing_duration_seconds", "One batch: write and commit",
                          ["projector"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5))
LAG_MS = Gauge("projection_lag_milliseconds", "Commit of the newest event in the last batch to its projection",
               ["projector"])
CHECKPOINT_BLOCK = Gauge("projector_checkpoint_block_number", "Ledger block of the last checkpoint", ["projector"])
CHECKPOINT_EVENT = Gauge("projector_checkpoint_event_index", "Event index of the last checkpoint", ["projector"])
CHECKPOINT_OFFSET = Gauge("projector_checkpoint_offset", "Last applied offset", ["projector", "partition"])
GAP_RECORDS = Counter("projector_gap_records_replayed", "Records read back because a checkpoint moved",
                      ["projector"])


def align_group_offsets(bootstrap: str, group_id: str, topic: str, stored: dict[int, int]) -> dict[int, int]:
    """Move the group's committed offsets back to the checkpoints + 1 where Kafka is ahead of the
    database. Must run while the group has no members (before the worker starts). Returns the
    partitions moved and their new offsets."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group_id, "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        committed = c.committed([TopicPartition(topic, p) for p in parts], timeout=10)
        moves = [TopicPartition(topic, tp.partition, stored.get(tp.partition, -1) + 1) for tp in committed
                 if tp.offset >= 0 and tp.offset > stored.get(tp.partition, -1) + 1]
        if moves:
            c.commit(offsets=moves, asynchronous=False)
        return {tp.partition: tp.offset for tp in moves}
    finally:
        c.close()


async def take(queue: asyncio.Queue[Any], batch: int, within: float) -> list[Any]:
    """Up to ``batch`` items: waits for the first, then at most ``within`` seconds for the rest."""
    out = [await queue.get()]
    deadline = asyncio.get_running_loop().time() + within
    while len(out) < batch:
        try:
            out.append(queue.get_nowait())
            continue
        except asyncio.QueueEmpty:
            pass
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            break
        try:
            out.append(await asyncio.wait_for(queue.get(), remaining))
        except TimeoutError:
            break
    return out


def observe(projector: Projector, done: Prepared) -> None:
    name = projector.name
    for event_type, n in done.applied.items():
        EVENTS.labels(name, event_type).inc(n)
    for d in done.dead:
        ERRORS.labels(name, d.code).inc()
    for p, off in done.last_offset.items():
        CHECKPOINT_OFFSET.labels(name, str(p)).set(off)
    if done.position:
        block, _, idx = max(done.position.values())
        CHECKPOINT_BLOCK.labels(name).set(block)
        CHECKPOINT_EVENT.labels(name).set(idx)
    if done.last_commit_ms is not None:
        LAG_MS.labels(name).set(max(0.0, time.time() * 1000 - done.last_commit_ms))


RESYNC = object()  # a request to the writer thread: check for checkpoints moved back
STOP = object()


def install(app: faust.App, group: GroupSpec, topic_name: str, dlq_topic: str, dsn: str, bootstrap: str,
            projector: str, channel: str = "gxchannel", batch: int = 2000, within: float = 0.1,
            resync_every: float = 2.0, hold_s: float = 1.0) -> Any:
    topic = app.topic(topic_name, key_type=bytes, value_type=bytes)
    runner = Projector(group, projector, channel, topic_name, lambda: psycopg.connect(dsn, autocommit=True),
                       lambda t, p, start, end: read_range(bootstrap, t, p, start, end),
                       DeadLetterSender(bootstrap, dlq_topic, projector))
    received: asyncio.Queue[Any] = asyncio.Queue(maxsize=2 * batch)
    # Batches for the writer thread; two at most, so that a slow database holds the agent back.
    inbox: queue.Queue[Any] = queue.Queue(maxsize=2)
    web.add_check(app, "database", lambda: (
        f"batch not written after {runner.transient_failures} attempt(s); retrying (see the log)"
        if runner.transient_failures >= 3 else None))

    @app.agent(topic, name=f"projector-{group.name}")
    async def receive(stream: faust.Stream) -> None:
        # noack: an event is acknowledged only once its batch is in the database (the writer).
        async for event in stream.noack().events():
            await received.put(event)

    def ack(events: list[Any]) -> None:
        for ev in events:
            ev.ack()

    def write(loop: asyncio.AbstractEventLoop) -> None:
        """The writer thread: owns the runner and its connection. While the server writes batch N
        (sent in pipeline mode), batch N+1 is parsed and folded; with nothing queued, batch N is
        finished at once (no added latency when the stream is quiet)."""
        pending: tuple[Pending, list[Any], float] | None = None

        def finish() -> None:
            nonlocal pending
            assert pending is not None
            sent, events, t0 = pending
            pending = None
            gaps_before = runner.gaps_replayed
            done = runner.end(sent)
            BATCH_SECONDS.labels(projector).observe(time.perf_counter() - t0)
            GAP_RECORDS.labels(projector).inc(runner.gaps_replayed - gaps_before)
            observe(runner, done)
            loop.call_soon_threadsafe(ack, events)

        hold = Hold(group, hold_s, 20 * batch)

        def send(prepared: Prepared, events: list[Any]) -> None:
            nonlocal pending
            runner.adopt(prepared)  # prepared while the server works on the batch before
            if pending is not None:
                finish()
            pending = (runner.begin(prepared), events, time.perf_counter())

        def release() -> None:
            out = hold.release()
            if out is not None:
                send(*out)

        def next_item() -> Any:
            """The next batch or request; None when it is time to finish or release what waits."""
            try:
                if pending is not None:
                    return inbox.get_nowait()
                if hold.deadline is not None:
                    return inbox.get(timeout=max(0.0, hold.deadline - time.monotonic()))
                return inbox.get()
            except queue.Empty:
                return None

        def resync() -> None:
            gaps_before = runner.gaps_replayed
            try:
                runner.resync()
            except Exception as e:  # the database or Kafka is away: the next tick tries again
                log.warning("resync skipped", projector=projector, error=f"{type(e).__name__}: {e}")
            GAP_RECORDS.labels(projector).inc(runner.gaps_replayed - gaps_before)

        try:
            while True:
                item = next_item()
                if item is None:
                    if pending is not None:
                        finish()
                    else:
                        release()
                    continue
                if item is STOP or item is RESYNC:
                    release()
                    if pending is not None:
                        finish()
                    if item is STOP:
                        return
                    resync()
                    continue
                records, events = item
                # A batch of other groups' events only is held (projections.hold); each record is
                # prepared once.
                out = hold.add(records, events, runner.after, time.monotonic())
                if out is not None:
                    send(*out)
        except Exception as e:  # a bug: nothing unwritten was acked; stop so a restart replays
            log.error("projector stopped by an unexpected error", projector=projector, error=f"{type(e).__name__}: {e}")
            # (bound now: Python unbinds `e` when the except block ends, before the loop runs this)
            loop.call_soon_threadsafe(lambda exc=e: asyncio.ensure_future(app.crash(exc)))

    threads: list[threading.Thread] = []

    @app.task
    async def feed() -> None:
        writer = threading.Thread(target=write, args=(asyncio.get_running_loop(),),
                                  name=f"projector-{group.name}-writer", daemon=True)
        threads.append(writer)
        writer.start()
        while True:
            events = await take(received, batch, within)
            records = [Record(e.message.topic, e.message.partition, e.message.offset, e.message.value or b"",
                              e.message.key) for e in events]
            await asyncio.to_thread(inbox.put, (records, events))

    @app.timer(resync_every)
    async def resync() -> None:
        # A checkpoint moved back while no record arrives for its partition (a restored backup,
        # a rebuild's swap): replay from it now rather than on the partition's next record.
        try:
            inbox.put_nowait(RESYNC)
        except queue.Full:  # busy writing: batches find moved checkpoints themselves
            pass

    @app.on_before_shutdown.connect
    async def close(app_: faust.App, **_: Any) -> None:
        # The write under way finishes (its events get acked), then the connection closes.
        for writer in threads:
            await asyncio.to_thread(inbox.put, STOP)
            await asyncio.to_thread(writer.join, 30)
        runner.close()

    return receive
