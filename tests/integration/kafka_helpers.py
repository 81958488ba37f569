"""Reading a topic in tests: everything of one tenant, until a condition holds or time runs out, or
up to the topic's end; a group's committed offsets."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, TopicPartition

from gxcommon.kafka import Consumer, offset_of, partition_of
from tests.waiting import wait_until


def text(raw: bytes | str | None) -> str:
    """Bytes as text, any byte that is not UTF-8 replaced: hostile records (issue 30) have keys and
    headers that are not UTF-8, and a reader of the topic must read past them."""
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else (raw or "")


def message_headers(m: Any) -> dict[str, str]:
    """A consumed record's headers as text (see :func:`text`)."""
    raw = m.headers() or []
    return {k: text(v) for k, v in (raw.items() if isinstance(raw, dict) else raw)}


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
        self.topic = topic
        self.c = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"test-{uuid.uuid4()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "enable.partition.eof": True,  # see read_to_end
            }
        )
        self.c.subscribe([topic])
        self.keep = keep
        self.records: list[Rec] = []
        self.eof: dict[int, int] = {}  # partition -> the end offset it was last read up to

    def __enter__(self) -> TopicReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _consume(self) -> None:
        for m in self.c.consume(500, 0.5):
            if (error := m.error()) is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    self.eof[partition_of(m)] = offset_of(m)
                continue
            raw = m.value() or b""  # a tombstone has no value
            try:
                value = json.loads(raw)
            except ValueError:
                value = None
            rec = Rec(partition_of(m), offset_of(m), text(m.key()), message_headers(m), value, raw)
            if self.keep(rec):
                self.records.append(rec)

    def read_until(self, done: Callable[[list[Rec]], bool], deadline_s: float = 90) -> list[Rec]:
        """Read until ``done(records kept)`` or ``deadline_s`` passes; the records kept either way."""
        end = time.monotonic() + deadline_s
        while not done(self.records) and time.monotonic() < end:
            self._consume()
        return self.records

    def read_to_end(self, deadline_s: float = 60) -> list[Rec]:
        """Read on until every record on the topic at the time of the call has been read (each
        partition up to its end offset then); the records kept. A record written twice before the
        call is among them, unlike after a read that stops at the first sight of what it wanted.
        AssertionError naming the partitions not read to their end if ``deadline_s`` passes."""
        ends: dict[int, int] = {}
        for p in self.c.list_topics(self.topic, timeout=10).topics[self.topic].partitions:
            low, high = self.c.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)
            if high > low:
                ends[p] = high

        def behind() -> dict[int, tuple[int, int]]:
            """(read up to, end) of the partitions not read to their end yet."""
            return {p: (self.eof.get(p, -1), end) for p, end in ends.items() if self.eof.get(p, -1) < end}

        def read() -> dict[int, tuple[int, int]]:
            self._consume()
            return behind()

        if behind():
            wait_until(read, f"{self.topic} read to its end", until=lambda b: not b, timeout=deadline_s, interval=0)
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
    return committed_offsets(bootstrap, group, topic, [partition])[partition]


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: Iterable[int]) -> dict[int, int | None]:
    """The group's committed offset of each partition (None where it has none)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        got = c.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return {tp.partition: tp.offset if tp.offset >= 0 else None for tp in got}
    finally:
        c.close()


def last_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """Partition -> the offset of the last record on it now (partitions with none left out)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4()}", "enable.auto.commit": False})
    try:
        out = {}
        for p in c.list_topics(topic, timeout=10).topics[topic].partitions:
            low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                out[p] = high - 1
        return out
    finally:
        c.close()


def wait_committed_past(
    bootstrap: str, group: str, topic: str, last: Mapping[int, int], timeout: float = 60
) -> dict[int, int | None]:
    """Until ``group`` has committed past ``last`` (partition -> the offset of a record that must be
    done): a record committed past is never consumed by that group again. The offsets committed."""
    return wait_until(
        lambda: committed_offsets(bootstrap, group, topic, last),
        f"{group} to commit past {dict(last)} on {topic}",
        until=lambda got: all((got[p] or 0) > o for p, o in last.items()),
        timeout=timeout,
        interval=0.5,
    )
