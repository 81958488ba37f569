"""The ledger projector as a Faust agent: gx.fabric.events -> Wallet, TransactionHistory.

The database is the truth for where to resume: every batch (up to ``batch`` events or ``within``
seconds) is applied with its checkpoint in one Postgres transaction (projections.store), and Kafka
offsets are committed only after that (Faust acks a batch once the agent has processed it). So
Kafka's committed offset is never ahead of the checkpoint, except after the database was restored
from an older backup: :func:`align_group_offsets` runs before the worker joins its group and moves
the group's committed offsets back to the checkpoints + 1 (or to the start where there is none),
and the projector replays. Records at or below a checkpoint are skipped, so any replay is harmless.
(An explicit seek on assignment was tried first; with faust-streaming 0.15.3 it stalled the
partition's fetcher, so the position is set through the group's committed offsets instead.)
Dead letters are produced and flushed before the batch commits: at worst sent twice, never lost.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
import psycopg
from confluent_kafka import Consumer, Producer, TopicPartition
from prometheus_client import Counter, Gauge, Histogram

from gxcommon.dlq import dead_letter_headers
from projections.store import Record, apply_batch

log = logging.getLogger("gx.projector")

EVENTS = Counter("projector_events_processed", "Events applied", ["projector"])
ERRORS = Counter("projector_processing_errors", "Events dead-lettered", ["error_type"])
BATCH_SECONDS = Histogram("projector_event_processing_duration_seconds", "One batch, fold and commit",
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5))
CHECKPOINT_OFFSET = Gauge("projector_checkpoint_offset", "Last applied offset", ["projector", "partition"])


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


def install(app: faust.App, topic_name: str, dlq_topic: str, dsn: str, bootstrap: str, projector: str,
            channel: str = "gxchannel", batch: int = 2000, within: float = 0.1) -> Any:
    topic = app.topic(topic_name, key_type=bytes, value_type=bytes)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    conn_box: dict[str, psycopg.Connection[Any]] = {}

    def conn() -> psycopg.Connection[Any]:
        if "c" not in conn_box or conn_box["c"].closed:
            conn_box["c"] = psycopg.connect(dsn)
        return conn_box["c"]

    def dead_letter(dead: list[tuple[Record, str, str]]) -> None:
        for rec, code, reason in dead:
            ERRORS.labels(code).inc()
            producer.produce(dlq_topic, value=rec.value, headers=dead_letter_headers(
                reason, code, rec.topic, rec.partition, rec.offset, 0))
        if producer.flush(30) != 0:
            raise RuntimeError("dead letters not acknowledged; the batch is not committed")

    def apply(records: list[Record]) -> None:
        res = apply_batch(conn(), projector, channel, records, on_dead=dead_letter)
        EVENTS.labels(projector).inc(res.applied)
        # records are sorted by (partition, offset): the last one per partition is its checkpoint
        for partition, offset in {r.partition: r.offset for r in records}.items():
            CHECKPOINT_OFFSET.labels(projector, str(partition)).set(offset)

    @app.agent(topic, name=f"projector-{projector}")
    async def projector_agent(stream: faust.Stream) -> None:
        async for events in stream.take_events(batch, within=within):
            records = [Record(e.message.topic, e.message.partition, e.message.offset, e.message.value or b"")
                       for e in events]
            records.sort(key=lambda r: (r.partition, r.offset))
            with BATCH_SECONDS.time():
                # psycopg is synchronous here; the thread keeps the event loop (and Faust) responsive.
                await asyncio.to_thread(apply, records)

    return projector_agent
