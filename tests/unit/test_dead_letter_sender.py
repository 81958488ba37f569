"""The projections' dead-letter sender (projections.kafka_io.DeadLetterSender) against a fake
producer that reports deliveries as librdkafka does (issue 32, defects 3 and 4):

- a dead letter counts as sent only once its delivery report says so; one the broker refuses
  leaves librdkafka's queue with an error, and ``flush()`` still returns 0;
- the size limits agree end to end: the sender's producer allows what the events topic holds,
  and a dead letter too large for its topic is sent as a reference (topic, partition, offset,
  reason) instead of being retried forever.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from confluent_kafka import KafkaError

from gxcommon.record_limits import MAX_EVENT_BYTES, MAX_RECORD_BYTES
from projections import kafka_io
from projections.kafka_io import DeadLetterSender
from projections.model import DeadLetter, Record

TOPIC, DLQ = "gx.fabric.events", "gx.projections.dlq"


class Sent:
    def __init__(self, topic: str, key: bytes | None, value: bytes, headers: dict[str, Any]) -> None:
        self._topic, self._key, self._value, self.headers = topic, key, value, headers

    def topic(self) -> str:
        return self._topic

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes:
        return self._value


class FakeProducer:
    """librdkafka's contract: produce() refuses at once a record over ``message.max.bytes``; the
    broker refuses what its topic cannot hold in the delivery report; flush() returns what is
    still queued, 0 even when a delivery failed."""

    made: ClassVar[list[FakeProducer]] = []

    def __init__(self, conf: dict[str, Any], broker_limit: int = MAX_RECORD_BYTES, refuse: KafkaError | None = None):
        self.conf, self.broker_limit, self.refuse = conf, broker_limit, refuse
        self.limit = int(conf.get("message.max.bytes", 1_000_000))  # librdkafka's default
        self.queue: list[tuple[Sent, Callable[[Any, Any], None] | None]] = []
        self.delivered: list[Sent] = []
        FakeProducer.made.append(self)

    def produce(
        self,
        topic: str,
        key: bytes | None = None,
        value: bytes = b"",
        headers: Any = None,
        on_delivery: Callable[[Any, Any], None] | None = None,
        **_: Any,
    ) -> None:
        h = dict(headers or [])
        size = len(value) + len(key or b"") + sum(len(k) + len(v or b"") for k, v in h.items())
        if size > self.limit:
            from confluent_kafka import KafkaException

            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "Message size too large"))
        self.queue.append((Sent(topic, key, value, h), on_delivery))

    def flush(self, timeout: float = -1) -> int:
        for m, cb in self.queue:
            size = len(m.value()) + len(m.key() or b"")
            err = self.refuse or (
                KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "Broker: Message size too large")
                if size > self.broker_limit
                else None
            )
            if err is None:
                self.delivered.append(m)
            if cb is not None:
                cb(err, m)
        self.queue = []
        return 0

    def poll(self, timeout: float = 0) -> int:
        return 0

    def __len__(self) -> int:
        return len(self.queue)


def sender(monkeypatch: pytest.MonkeyPatch, **fake: Any) -> DeadLetterSender:
    FakeProducer.made = []
    monkeypatch.setattr(kafka_io, "Producer", lambda conf: FakeProducer(conf, **fake))
    return DeadLetterSender("kafka:9092", DLQ, "organizations")


def letter(value: bytes, key: bytes = b"org-1", code: str = "APPLY_ERROR") -> DeadLetter:
    return DeadLetter(Record(TOPIC, 3, 17, value, key), code, "DataError: PostgreSQL text fields cannot contain NUL")


def envelope(size: int) -> bytes:
    """An event envelope of about ``size`` bytes (its name unknown: every group dead-letters it)."""
    env = {"channel": "gxchannel", "block": 9, "txId": "tx9", "txIndex": 0, "eventIndex": 2, "name": "Minted"}
    base = json.dumps({**env, "payload": {"blob": ""}}).encode()
    return json.dumps({**env, "payload": {"blob": "x" * (size - len(base))}}).encode()


def delivered(s: DeadLetterSender) -> list[Sent]:
    return [m for p in FakeProducer.made for m in p.delivered]


def test_a_dead_letter_the_broker_refuses_is_not_counted_as_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect 4: only flush() == 0 was checked; the refused record left the queue, the batch committed."""
    s = sender(
        monkeypatch, refuse=KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "Broker: Topic authorization failed")
    )
    with pytest.raises(Exception, match="authorization"):
        s([letter(envelope(300))])
    assert delivered(s) == []


def test_a_dead_letter_of_an_event_at_the_publishers_limit_is_sent_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect 3: librdkafka's default message.max.bytes (1,000,000) could not hold an envelope the
    publisher accepts (1,000,000 bytes) plus key and headers: MSG_SIZE_TOO_LARGE, retried forever."""
    s = sender(monkeypatch)
    value = envelope(MAX_EVENT_BYTES)
    s([letter(value)])
    [m] = delivered(s)
    assert m.value() == value and m.key() == b"org-1" and m.topic() == DLQ
    assert m.headers["errorCode"] == b"APPLY_ERROR" and m.headers["sourceOffset"] == b"17"
    assert m.headers["txId"] == b"tx9" and m.headers["eventIndex"] == b"2"  # for `projections wait`
    assert int(FakeProducer.made[0].conf["message.max.bytes"]) == MAX_RECORD_BYTES


def test_a_record_too_large_for_the_dead_letter_topic_goes_as_a_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    s = sender(monkeypatch)
    s([letter(envelope(MAX_RECORD_BYTES + 10_000))])  # e.g. a topic configured bigger than ours
    [m] = delivered(s)
    ref = json.loads(m.value())
    assert ref["reference"] == {"topic": TOPIC, "partition": 3, "offset": 17}
    assert ref["bytes"] > MAX_RECORD_BYTES and "NUL" in ref["reason"] and ref["txId"] == "tx9"
    assert m.headers["valueOmitted"] == str(ref["bytes"]).encode() and m.key() == b"org-1"
    assert m.headers["errorCode"] == b"APPLY_ERROR" and m.headers["sourceTopic"] == TOPIC.encode()


def test_a_record_the_broker_finds_too_large_is_sent_again_as_a_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dead-letter topic configured smaller than the events topic: the broker says so in the
    delivery report; the reference that follows fits."""
    s = sender(monkeypatch, broker_limit=100_000)
    s([letter(envelope(200_000)), letter(envelope(500), key=b"org-2")])
    sent = delivered(s)
    assert sorted(m.key() or b"" for m in sent) == [b"org-1", b"org-2"]
    big = next(m for m in sent if m.key() == b"org-1")
    assert json.loads(big.value())["reference"]["offset"] == 17 and "valueOmitted" in big.headers


def test_a_long_reason_is_cut_so_the_headers_stay_small(monkeypatch: pytest.MonkeyPatch) -> None:
    s = sender(monkeypatch)
    s([DeadLetter(Record(TOPIC, 0, 1, b"{}", b"k"), "APPLY_ERROR", "Key (id)=(" + "x" * 50_000 + ") already exists")])
    [m] = delivered(s)
    assert len(m.headers["reason"]) <= 1000
