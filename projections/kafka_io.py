"""The projector's own Kafka edges besides its group's consumer: reading back a range of committed
records (gap replay, rebuilds) and sending dead letters with their original key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import confluent_kafka
from confluent_kafka import KafkaError, TopicPartition

from gxcommon.kafka import Consumer, Headers, Producer, offset_of, partition_of
from gxcommon.record_limits import MAX_RECORD_BYTES
from projections.dead_letters import Outgoing, reference, whole
from projections.errors import GapReadError
from projections.model import DeadLetter, Record

# A record its topic (or the producer) cannot hold: sent again as a reference.
TOO_LARGE = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE})


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


def _headers(m: Any) -> dict[str, str]:
    return {k: (v or b"").decode("utf-8", "replace") for k, v in (m.headers() or [])}


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


def dead_letters_of(
    bootstrap: str, dlq_topic: str, tx_id: str, since_ms: int, timeout: float = 10
) -> list[dict[str, Any]]:
    """The dead letters of transaction ``tx_id`` on ``dlq_topic`` written at or after ``since_ms``
    (Kafka timestamps), by the projectors and the block publisher alike (their ``txId`` header):
    txId, eventIndex (None for a whole transaction), projector, errorCode, reason and where the
    dead letter is (``deadLetter``: topic[partition]@offset). Raises GapReadError if Kafka does
    not answer."""
    c = _consumer(bootstrap)
    out: list[dict[str, Any]] = []
    try:
        md = c.list_topics(dlq_topic, timeout=timeout).topics.get(dlq_topic)
        if md is None or md.error is not None:
            return []
        starts = c.offsets_for_times([TopicPartition(dlq_topic, p, since_ms) for p in md.partitions], timeout)
        ends = {p: c.get_watermark_offsets(TopicPartition(dlq_topic, p), timeout=timeout)[1] for p in md.partitions}
        todo = {tp.partition: tp.offset for tp in starts if 0 <= tp.offset < ends[tp.partition]}
        if not todo:
            return []
        c.assign([TopicPartition(dlq_topic, p, o) for p, o in todo.items()])
        while todo:
            m = c.poll(timeout)
            if m is None:
                raise GapReadError(dlq_topic, -1, 0, 0, f"no record for {timeout:.0f}s while reading dead letters")
            if (err := m.error()) is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    todo.pop(partition_of(m), None)
                    continue
                raise GapReadError(dlq_topic, partition_of(m), 0, 0, str(err))
            if offset_of(m) + 1 >= ends[partition_of(m)]:
                todo.pop(partition_of(m), None)
            h = _headers(m)
            if h.get("txId") != tx_id:
                continue
            index = h.get("eventIndex", "")
            out.append(
                {
                    "txId": tx_id,
                    "eventIndex": int(index) if index.isdigit() else None,
                    "projector": h.get("projector", "?"),
                    "errorCode": h.get("errorCode", "?"),
                    "reason": h.get("reason", ""),
                    "deadLetter": f"{dlq_topic}[{partition_of(m)}]@{offset_of(m)}",
                }
            )
        return out
    finally:
        c.close()


class DeadLetterSender:
    """Sends dead letters to the projections' dead-letter topic (projections.dead_letters: the
    record itself, or a reference when it would not fit), and returns only once Kafka has
    acknowledged every one: each delivery report is checked (a record the broker refuses leaves
    librdkafka's queue with an error while ``flush()`` still returns 0). One the topic finds too
    large is sent again as a reference. Raises RuntimeError when any is not acknowledged (the
    writer then retries the batch: at worst sent twice, never lost)."""

    def __init__(self, bootstrap: str, dlq_topic: str, projector: str, timeout: float = 30) -> None:
        self.topic, self.projector, self.timeout = dlq_topic, projector, timeout
        # The same record limit as the events topic and the publisher's producer (gxcommon.record_limits).
        self._conf = {"bootstrap.servers": bootstrap, "enable.idempotence": True, "message.max.bytes": MAX_RECORD_BYTES}
        self._producer = Producer(self._conf)

    def __call__(self, dead: list[DeadLetter]) -> None:
        failed = self._send([whole(d, self.projector) for d in dead])
        too_large = [out for out, err in failed if err.code() in TOO_LARGE and "valueOmitted" not in out.headers]
        failed = [(out, err) for out, err in failed if not any(out is big for big in too_large)]
        if too_large:
            failed += self._send([reference(out) for out in too_large])
        if failed:
            raise RuntimeError(f"{len(failed)} dead letter(s) not acknowledged by Kafka: {failed[0][1].str()}")

    def _send(self, outs: list[Outgoing]) -> list[tuple[Outgoing, KafkaError]]:
        """Produce ``outs`` and wait for every delivery report; returns those that failed."""
        failed: list[tuple[Outgoing, KafkaError]] = []
        reported: list[Outgoing] = []

        def report(out: Outgoing) -> Any:
            def on_delivery(err: KafkaError | None, _msg: Any) -> None:
                reported.append(out)
                if err is not None:
                    failed.append((out, err))

            return on_delivery

        for out in outs:
            headers: Headers = [(k, v) for k, v in out.headers.items()]
            try:
                self._producer.produce(
                    self.topic, key=out.key, value=out.value, headers=headers, on_delivery=report(out)
                )
            except confluent_kafka.KafkaException as e:  # refused before sending (its size, a fatal state)
                reported.append(out)
                failed.append((out, e.args[0]))
        left = self._producer.flush(self.timeout)
        if left or len(reported) < len(outs):
            self._renew()
            raise RuntimeError(f"{len(outs) - len(reported)} dead letter(s) not acknowledged in {self.timeout:.0f}s")
        if failed:
            self._renew()  # an idempotent producer may be left in a state it cannot leave
        return failed

    def _renew(self) -> None:
        try:
            self._producer.flush(0)
        except Exception:  # the old producer is dropped either way
            pass
        self._producer = Producer(self._conf)
