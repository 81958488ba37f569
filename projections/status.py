"""Where each projector stands: its checkpoints against the end of the events topic.

Every group has a row for every partition of the topic: a partition it has no checkpoint for yet
counts every record of it as lag (a group stalled on its first batch of a partition is behind, not
at lag 0). Lag in events is the committed records after the checkpoint (the topic is written in
Kafka transactions, so offsets also hold commit markers: the records are counted, read back, up to
``EXACT`` of them, beyond which the offset distance is reported as an upper bound); lag in
milliseconds is the Kafka timestamp of the newest record minus that of the checkpointed one (0 when
caught up, None when it cannot be told).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import confluent_kafka
import psycopg
from confluent_kafka import TopicPartition

from gxcommon.kafka import Consumer
from projections.groups import GROUPS
from projections.kafka_io import read_range

EXACT = 10_000


def _timestamp(c: confluent_kafka.Consumer, topic: str, partition: int, offset: int) -> int | None:
    if offset < 0:
        return None
    c.assign([TopicPartition(topic, partition, offset)])
    m = c.poll(5)
    return m.timestamp()[1] if m is not None and not m.error() and m.offset() == offset else None


def complete(rows: list[tuple[Any, ...]], groups: Iterable[str], partitions: Iterable[int]) -> list[tuple[Any, ...]]:
    """``rows`` (projector, partition, offset, block, event index, updated) with a row for every
    partition of every group, offset -1 where there is no checkpoint yet. Pure."""
    have = {(r[0], r[1]) for r in rows}
    missing = [(g, p, -1, None, None, None) for g in groups for p in partitions if (g, p) not in have]
    return sorted([*rows, *missing], key=lambda r: (r[0], r[1]))


def status(dsn: str, bootstrap: str, topic: str, groups: Iterable[str] = GROUPS) -> list[dict[str, Any]]:
    """One row per (projector, partition) with offset, block, event index, lag (events, ms): every
    partition of the topic for each of ``groups``, and the checkpoints of any other projector."""
    with psycopg.connect(dsn) as conn:
        stored = conn.execute(
            'SELECT "projectorName", "partition", "offset", "lastBlock", "lastEventIndex", "updatedAt"'
            ' FROM "ProjectorState" WHERE topic = %s ORDER BY 1, 2',
            (topic,),
        ).fetchall()
    c = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"gxctl-status-{uuid.uuid4()}", "enable.auto.commit": False}
    )
    out = []
    try:
        partitions = sorted(c.list_topics(topic, timeout=10).topics[topic].partitions)
        rows = complete(list(stored), groups, partitions)
        ends = {
            part: c.get_watermark_offsets(TopicPartition(topic, part), timeout=10)[1] for part in {r[1] for r in rows}
        }
        # The committed records after the lowest checkpoint of each partition, read once and
        # shared by every projector on that partition (within EXACT records of the end).
        behind: dict[int, list[Any]] = {}
        for part, end in ends.items():
            near = [r[2] for r in rows if r[1] == part and end - 1 - r[2] <= EXACT]
            behind[part] = read_range(bootstrap, topic, part, min(near) + 1, end) if near else []
        for name, part, off, block, idx, updated in rows:
            span = max(0, ends[part] - 1 - off)
            exact = span <= EXACT
            after = [r for r in behind[part] if r.offset > off]
            lag = len(after) if exact else span
            lag_ms: int | None = 0
            if lag:
                newest = after[-1].timestamp_ms if exact and after else None
                at = _timestamp(c, topic, part, off)
                lag_ms = newest - at if newest is not None and at is not None else None
            out.append(
                {
                    "projector": name,
                    "partition": part,
                    "offset": off,
                    "lastBlock": block,
                    "lastEventIndex": idx,
                    "lag_events": lag if exact else f"<={lag}",
                    "lag_ms": lag_ms,
                    "updatedAt": updated,
                }
            )
    finally:
        c.close()
    return out
