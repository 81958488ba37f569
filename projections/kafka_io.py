"""The projector's own Kafka edges besides Faust's stream: reading back a range of committed
records (gap replay, rebuilds) and sending dead letters with their original key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import confluent_kafka
from confluent_kafka import KafkaError, TopicPartition

from gxcommon.dlq import dead_letter_headers
from gxcommon.kafka import Consumer, Producer, offset_of, partition_of
from projections.errors import GapReadError
from projections.model import DeadLetter, Record


def _consumer(bootstrap: str) -> confluent_kafka.Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"gx-projector-reader-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        }
    )


def to_record(m: Any) -> Record:
    return Record(m.topic(), partition_of(m), offset_of(m), m.value() or b"", m.key(), m.timestamp()[1])


def read_range(bootstrap: str, topic: str, partition: int, start: int, end: int, timeout: float = 30) -> list[Record]:
    """Committed records of ``topic[partition]`` with offsets in [start, end). Raises GapReadError."""
    if end <= start:
        return []
    c = _consumer(bootstrap)
    out: list[Record] = []
    try:
        c.assign([TopicPartition(topic, partition, start)])
        while True:
            m = c.poll(timeout)
            if m is None:
                raise GapReadError(topic, partition, start, end, f"no record for {timeout:.0f}s")
            if (err := m.error()) is not None:
                if err.code() == KafkaError._PARTITION_EOF:  # nothing committed beyond this point
                    return out
                raise GapReadError(topic, partition, start, end, str(err))
            if offset_of(m) >= end:
                return out
            out.append(to_record(m))
    finally:
        c.close()


def read_all(bootstrap: str, topic: str, batch: int = 5000, timeout: float = 30) -> Iterator[list[Record]]:
    """Every committed record of ``topic`` from offset 0 to the end as it is when called, in
    batches (each partition in offset order). For rebuilds and verify."""
    c = _consumer(bootstrap)
    try:
        md = c.list_topics(topic, timeout=timeout).topics[topic]
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1] for p in md.partitions}
        todo = {p for p, hi in ends.items() if hi > 0}
        c.assign([TopicPartition(topic, p, 0) for p in todo])
        buf: list[Record] = []
        while todo:
            m = c.poll(timeout)
            if m is None:
                raise GapReadError(topic, -1, 0, 0, f"no record for {timeout:.0f}s while reading to the end")
            if (err := m.error()) is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    todo.discard(partition_of(m))
                    continue
                raise GapReadError(topic, partition_of(m), 0, 0, str(err))
            if offset_of(m) >= ends[partition_of(m)]:
                todo.discard(partition_of(m))
                continue
            buf.append(to_record(m))
            if offset_of(m) + 1 >= ends[partition_of(m)]:
                todo.discard(partition_of(m))
            if len(buf) >= batch:
                yield buf
                buf = []
        if buf:
            yield buf
    finally:
        c.close()


class DeadLetterSender:
    """Sends dead letters to the projections DLQ with the record's key, value and the reason."""

    def __init__(self, bootstrap: str, dlq_topic: str, projector: str) -> None:
        self.topic, self.projector = dlq_topic, projector
        self._producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})

    def __call__(self, dead: list[DeadLetter]) -> None:
        for d in dead:
            r = d.record
            headers: dict[str, str | bytes | None] = {
                **dead_letter_headers(d.reason, d.code, r.topic, r.partition, r.offset, 0),
                "projector": self.projector.encode(),
            }
            self._producer.produce(self.topic, key=r.key, value=r.value, headers=headers)
        if self._producer.flush(30) != 0:
            raise RuntimeError(f"{len(self._producer)} dead letter(s) not acknowledged by Kafka")
