"""Reading a topic in tests: everything of one tenant, until a condition holds or time runs out."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.common import message_headers
from gxcommon.kafka import Consumer, offset_of, partition_of


@dataclass
class Rec:
    partition: int
    offset: int
    key: str
    headers: dict[str, str]
    value: Any
    raw: bytes


class TopicReader:
    """A consumer from the beginning of a topic that collects records matching a filter."""

    def __init__(self, bootstrap: str, topic: str, keep: Callable[[Rec], bool]) -> None:
        self.c = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"test-{uuid.uuid4()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        self.c.subscribe([topic])
        self.keep = keep
        self.records: list[Rec] = []

    def read_until(self, done: Callable[[list[Rec]], bool], deadline_s: float = 90) -> list[Rec]:
        end = time.monotonic() + deadline_s
        while not done(self.records) and time.monotonic() < end:
            for m in self.c.consume(500, 0.5):
                if m.error():
                    continue
                raw = m.value() or b""  # a tombstone has no value
                try:
                    value = json.loads(raw)
                except ValueError:
                    value = None
                rec = Rec(partition_of(m), offset_of(m), (m.key() or b"").decode(), message_headers(m), value, raw)
                if self.keep(rec):
                    self.records.append(rec)
        return self.records

    def close(self) -> None:
        self.c.close()


def of_tenant(tenant: str) -> Callable[[Rec], bool]:
    return lambda r: r.headers.get("tenantId") == tenant


def murmur2_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's Java clients (Kafka Connect, hence the outbox path) pick for ``key``:
    ``toPositive(murmur2(key)) % partitions`` (org.apache.kafka.common.utils.Utils.murmur2)."""
    m, r, mask = 0x5BD1E995, 24, 0xFFFFFFFF
    length = len(key)
    h = (0x9747B28C ^ length) & mask
    for i in range(length // 4):
        k = int.from_bytes(key[i * 4 : i * 4 + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = (h * m) & mask
        h ^= k
    tail = length & ~3
    rest = length % 4
    if rest == 3:
        h ^= key[tail + 2] << 16
    if rest >= 2:
        h ^= key[tail + 1] << 8
    if rest >= 1:
        h ^= key[tail]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions


def committed_offset(bootstrap: str, group: str, topic: str, partition: int) -> int | None:
    """The group's committed offset of one partition (None if it has none)."""
    from confluent_kafka import TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        [tp] = c.committed([TopicPartition(topic, partition)], timeout=10)
        return tp.offset if tp.offset >= 0 else None
    finally:
        c.close()
