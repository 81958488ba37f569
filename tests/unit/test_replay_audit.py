"""The replay metric (issue 33, finding 3: every replay recorded, a log line and a metric at least):
``dlq_replays_recorded`` is the audit topic's end offset, and a results writer that may not read
the topic says so instead of reporting no replays."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from confluent_kafka import KafkaError, KafkaException

from streams import replay_audit


class FakeConsumer:
    ends: ClassVar[dict[int, int]] = {}
    error: KafkaError | None = None
    missing = False
    closed = 0

    def __init__(self, conf: dict[str, Any]) -> None:
        self.conf = conf

    def list_topics(self, topic: str, timeout: float) -> SimpleNamespace:
        if self.missing:
            return SimpleNamespace(topics={})
        parts = {p: SimpleNamespace(id=p) for p in self.ends}
        return SimpleNamespace(topics={topic: SimpleNamespace(error=self.error, partitions=parts)})

    def get_watermark_offsets(self, tp: Any, timeout: float) -> tuple[int, int]:
        return 0, self.ends[tp.partition]

    def close(self) -> None:
        FakeConsumer.closed += 1


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeConsumer]:
    monkeypatch.setattr(replay_audit, "Consumer", FakeConsumer)
    FakeConsumer.ends, FakeConsumer.error, FakeConsumer.missing, FakeConsumer.closed = {}, None, False, 0
    return FakeConsumer


def test_the_count_is_the_audit_topics_end_summed_over_its_partitions(fake: type[FakeConsumer]) -> None:
    fake.ends = {0: 3, 1: 0, 2: 4}
    assert replay_audit.recorded("k:9092", "gx.dlq.replays") == 7
    assert fake.closed == 1


def test_no_audit_topic_yet_is_no_replay(fake: type[FakeConsumer]) -> None:
    fake.missing = True
    assert replay_audit.recorded("k:9092", "gx.dlq.replays") == 0
    fake.missing, fake.error = False, KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)
    assert replay_audit.recorded("k:9092", "gx.dlq.replays") == 0


def test_a_topic_the_writer_may_not_read_is_an_error_not_zero_replays(fake: type[FakeConsumer]) -> None:
    """Before: any topic error, an ACL denial included, read as "no replay ever"."""
    fake.ends, fake.error = {0: 5}, KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)
    with pytest.raises(KafkaException):
        replay_audit.recorded("k:9092", "gx.dlq.replays")
    assert fake.closed == 1
