"""Dead-letter topics for operators: list, show and replay records.

A dead letter keeps the original key and value; its headers say why (reason, errorCode) and where
it came from (sourceTopic, sourcePartition, sourceOffset, attempts, time). Replay sends the
original key and value back to the source topic (with a ``replayOf`` header naming the dead
letter), e.g. after a fix in the chaincode or a corrected payload. A dead letter sent as a
reference (``valueOmitted``: the record did not fit the dead-letter topic) replays the original
record, read back from where it names. The block publisher's own dead letters (source
``fabric:<channel>``) name no record on Kafka: they cannot be replayed, only repaired from the
ledger (`gxctl projections repair`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import confluent_kafka
from confluent_kafka import TopicPartition

from gxcommon.kafka import Consumer, Headers, Producer, offset_of, partition_of
from gxerrors import GxError


class DlqError(GxError):
    """A dead letter could not be found or replayed. ``topic`` names the topic concerned; ``partition``
    and ``offset`` the dead letter, when the error is about one."""

    def __init__(self, message: str, topic: str, partition: int | None = None, offset: int | None = None) -> None:
        self.topic, self.partition, self.offset = topic, partition, offset
        super().__init__(message)


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]
    timestamp_ms: int

    def summary(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "offset": self.offset,
            "key": (self.key or b"").decode("utf-8", "replace"),
            "errorCode": self.headers.get("errorCode", ""),
            "reason": self.headers.get("reason", "")[:120],
            "source": f"{self.headers.get('sourceTopic', '?')}[{self.headers.get('sourcePartition', '?')}]"
            f"@{self.headers.get('sourceOffset', '?')}",
        }


def dead_letter_headers(
    reason: str, error_code: str, topic: str, partition: int, offset: int, attempts: int
) -> dict[str, bytes]:
    """The headers every dead letter carries (both dead-letter topics, every writer)."""
    from datetime import UTC, datetime

    return {
        "reason": reason.encode(),
        "errorCode": error_code.encode(),
        "sourceTopic": topic.encode(),
        "sourcePartition": str(partition).encode(),
        "sourceOffset": str(offset).encode(),
        "attempts": str(attempts).encode(),
        "time": datetime.now(UTC).isoformat().encode(),
    }


def _consumer(bootstrap: str) -> confluent_kafka.Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"gxctl-dlq-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )


def _to_letter(m: Any) -> DeadLetter:
    return DeadLetter(
        partition_of(m),
        offset_of(m),
        m.key(),
        m.value(),
        {k: (v or b"").decode("utf-8", "replace") for k, v in (m.headers() or [])},
        m.timestamp()[1],
    )


def read(bootstrap: str, topic: str, limit: int = 100, timeout: float = 10) -> list[DeadLetter]:
    """Up to ``limit`` dead letters from the start of ``topic`` (all partitions)."""
    c = _consumer(bootstrap)
    try:
        md = c.list_topics(topic, timeout=timeout).topics.get(topic)
        if md is None or md.error is not None:
            raise DlqError(f"topic {topic} does not exist (gxctl topics apply)", topic)
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout) for p in md.partitions}
        want = {p: hi for p, (lo, hi) in ends.items() if hi > lo}
        c.assign([TopicPartition(topic, p, ends[p][0]) for p in want])
        out: list[DeadLetter] = []
        done: set[int] = set()
        while len(done) < len(want) and len(out) < limit:
            m = c.poll(timeout)
            if m is None:
                break
            if m.error():
                continue
            out.append(_to_letter(m))
            if offset_of(m) + 1 >= want[partition_of(m)]:
                done.add(partition_of(m))
        return sorted(out, key=lambda d: (d.timestamp_ms, d.partition, d.offset))[:limit]
    finally:
        c.close()


def get(bootstrap: str, topic: str, partition: int, offset: int, timeout: float = 10) -> DeadLetter:
    c = _consumer(bootstrap)
    try:
        c.list_topics(topic, timeout=timeout)  # Kafka unreachable is said as such, not as "no dead letter"
        c.assign([TopicPartition(topic, partition, offset)])
        m = c.poll(timeout)
        if m is None or m.error() or offset_of(m) != offset:
            raise DlqError(f"no dead letter at {topic}[{partition}]@{offset}", topic, partition, offset)
        return _to_letter(m)
    finally:
        c.close()


def replay(bootstrap: str, dlq_topic: str, letter: DeadLetter, target: str | None = None) -> str:
    """Send the original record back to its source topic (or ``target``); returns the topic written.

    Back to its source topic it goes to its source partition, with its key: where that key's other
    records are (gx.fabric.events is partitioned by the publisher's own rule, not the producer's).
    """
    where = f"{dlq_topic}[{letter.partition}]@{letter.offset}"
    source = letter.headers.get("sourceTopic", "")
    if source.startswith("fabric:") and target is None:
        raise DlqError(
            f"dead letter {where} is a ledger event the block publisher could not publish "
            f"({letter.headers.get('errorCode', '?')}): there is no record to replay; re-derive the read models "
            "from the ledger with `gxctl projections repair`",
            dlq_topic,
            letter.partition,
            letter.offset,
        )
    topic = target or source
    if not topic:
        raise DlqError(
            f"dead letter {where} names no source topic; pass a target", dlq_topic, letter.partition, letter.offset
        )
    if "valueOmitted" in letter.headers:  # a reference: the original record is where it names
        letter = original_of(bootstrap, letter)
    from gxcommon.record_limits import MAX_RECORD_BYTES

    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "partitioner": "murmur2_random",
            "message.max.bytes": MAX_RECORD_BYTES,
        }
    )
    headers: Headers = [
        (k, v.encode())
        for k, v in letter.headers.items()
        if k in ("id", "commandType", "requestId", "tenantId", "service")
    ]
    headers.append(("replayOf", f"{dlq_topic}[{letter.partition}]@{letter.offset}".encode()))
    source_partition = letter.headers.get("sourcePartition", "")
    same_topic = topic == letter.headers.get("sourceTopic")
    if same_topic and source_partition.isdigit():
        p.produce(topic, key=letter.key, value=letter.value, headers=headers, partition=int(source_partition))
    else:
        p.produce(topic, key=letter.key, value=letter.value, headers=headers)
    if p.flush(30) != 0:
        raise DlqError(f"replay to {topic} was not acknowledged", dlq_topic, letter.partition, letter.offset)
    return topic


def original_of(bootstrap: str, letter: DeadLetter, timeout: float = 10) -> DeadLetter:
    """``letter`` (a reference) with the value of the record it names. DlqError if it is gone."""
    topic, part, off = (letter.headers.get(h, "") for h in ("sourceTopic", "sourcePartition", "sourceOffset"))
    if not (topic and part.isdigit() and off.isdigit()):
        raise DlqError(
            f"dead letter at offset {letter.offset} is a reference that names no record",
            topic,
            letter.partition,
            letter.offset,
        )
    m = get(bootstrap, topic, int(part), int(off), timeout)
    return DeadLetter(letter.partition, letter.offset, m.key, m.value, letter.headers, letter.timestamp_ms)
