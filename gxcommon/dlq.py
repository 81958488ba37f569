"""Dead-letter topics for operators: list and show records (replaying one: gxcommon.dlq_replay).

A dead letter keeps the original key and value; its headers say why (reason, errorCode) and where
it came from (sourceTopic, sourcePartition, sourceOffset, attempts, time). A dead letter sent as a
reference (``valueOmitted``: the record did not fit the dead-letter topic) names the record it
stands for; the block publisher's own (source ``fabric:<channel>``) name no record on Kafka.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import confluent_kafka
from confluent_kafka import TopicPartition

from gxcommon.kafka import Consumer, offset_of, partition_of
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


def _consumer(bootstrap: str, conf: dict[str, str] | None = None) -> confluent_kafka.Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"gxctl-dlq-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            **(conf or {}),
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


def get(
    bootstrap: str, topic: str, partition: int, offset: int, timeout: float = 10, conf: dict[str, str] | None = None
) -> DeadLetter:
    """The record at ``topic[partition]@offset`` (``conf``: another login than this process's).
    DlqError if there is none there."""
    c = _consumer(bootstrap, conf)
    try:
        c.list_topics(topic, timeout=timeout)  # Kafka unreachable is said as such, not as "no dead letter"
        c.assign([TopicPartition(topic, partition, offset)])
        m = c.poll(timeout)
        if m is None or m.error() or offset_of(m) != offset:
            raise DlqError(f"no dead letter at {topic}[{partition}]@{offset}", topic, partition, offset)
        return _to_letter(m)
    finally:
        c.close()
