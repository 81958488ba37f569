"""Where each projector stands: its checkpoints against the end of the events topic.

Lag in events is the committed records after the checkpoint (the topic is written in Kafka
transactions, so offsets also hold commit markers: the records are counted, read back, up to
``EXACT`` of them, beyond which the offset distance is reported as an upper bound); lag in
milliseconds is the Kafka timestamp of the newest record minus that of the checkpointed one (0 when
caught up).
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from confluent_kafka import TopicPartition
from gxcommon.kafka import Consumer
from projections.kafka_io import read_range

EXACT = 10_000


def _timestamp(c: Consumer, topic: str, partition: int, offset: int) -> int | None:
    if offset < 0:
        return None
    c.assign([TopicPartition(topic, partition, offset)])
    m = c.poll(5)
    return m.timestamp()[1] if m is not None and not m.error() and m.offset() == offset else None


def status(dsn: str, bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """One row per (projector, partition) with offset, block, event index, lag (events, ms)."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute('SELECT "projectorName", "partition", "offset", "lastBlock", "lastEventIndex", "updatedAt"'
                            ' FROM "ProjectorState" WHERE topic = %s ORDER BY 1, 2', (topic,)).fetchall()
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"gxctl-status-{uuid.uuid4()}",
                  "enable.auto.commit": False})
    out = []
    try:
        ends: dict[int, int] = {}
        for name, part, off, block, idx, updated in rows:
            if part not in ends:
                ends[part] = c.get_watermark_offsets(TopicPartition(topic, part), timeout=10)[1]
            lag = max(0, ends[part] - 1 - off)
            lag_ms: int | None = 0
            exact = True
            if lag:
                if lag <= EXACT:
                    behind = read_range(bootstrap, topic, part, off + 1, ends[part])
                    lag = len(behind)
                    newest = behind[-1].timestamp_ms if behind else None
                else:
                    exact, newest = False, None
                at = _timestamp(c, topic, part, off)
                lag_ms = (newest - at) if lag and newest is not None and at is not None else (0 if not lag else None)
            out.append({"projector": name, "partition": part, "offset": off, "lastBlock": block,
                        "lastEventIndex": idx, "lag_events": lag if exact else f"<={lag}", "lag_ms": lag_ms,
                        "updatedAt": updated})
    finally:
        c.close()
    return out
