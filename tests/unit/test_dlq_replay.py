"""`gxctl dlq replay` of what cannot be replayed as it is (issue 32, defects 3 and 8), on
gxcommon.dlq_replay (issue 33: the record a letter names is always read back and sent)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gxcommon import dlq_replay
from gxcommon.dlq import DeadLetter, DlqError
from gxcommon.topics import TopicSettings

WHO = dlq_replay.Who("gx-dlq-replayer", "ops", "host")
NOW = datetime(2026, 12, 7, tzinfo=UTC)


def test_a_publisher_dead_letter_names_no_record_and_points_to_the_repair() -> None:
    """Its source is ``fabric:<channel>``, no topic: replaying produced to a topic of that name."""
    letter = DeadLetter(0, 4, b"9:0", b"{}", {"sourceTopic": "fabric:gxchannel", "errorCode": "EVENT_TOO_LARGE"}, 0)
    with pytest.raises(DlqError, match=r"could not publish \(EVENT_TOO_LARGE\).*gxctl projections repair"):
        dlq_replay.plan("gx.projections.dlq", letter, TopicSettings())


def test_a_reference_replays_the_record_it_names(monkeypatch: pytest.MonkeyPatch) -> None:
    headers = {"sourceTopic": "gx.fabric.events", "sourcePartition": "3", "sourceOffset": "17", "valueOmitted": "9"}
    ref = DeadLetter(0, 5, b"org-1", b'{"reference": {}}', headers, 0)
    asked: list[tuple[str, int, int]] = []

    def get(bootstrap: str, topic: str, partition: int, offset: int, timeout: float = 10, conf=None) -> DeadLetter:
        asked.append((topic, partition, offset))
        if topic == "gx.projections.dlq":
            return ref
        return DeadLetter(partition, offset, b"org-1", b"the original", {}, 0)

    sent: list[tuple[str, bytes | None, int | None]] = []

    class P:
        def __init__(self, conf: dict) -> None:
            self.conf = conf
            self.cb = None

        def produce(self, topic: str, key=None, value=b"", headers=None, partition=None, on_delivery=None):
            sent.append((topic, value, partition))
            if on_delivery:
                on_delivery(
                    None, type("M", (), {"topic": lambda s: topic, "partition": lambda s: 3, "offset": lambda s: 9})()
                )

        def flush(self, timeout: float) -> int:
            return 0

    monkeypatch.setattr(dlq_replay, "get", get)
    monkeypatch.setattr(dlq_replay, "Producer", P)
    rec = dlq_replay.replay("kafka:9092", {}, TopicSettings(), "gx.projections.dlq", 0, 5, WHO, NOW)
    assert asked == [("gx.projections.dlq", 0, 5), ("gx.fabric.events", 3, 17)]
    assert sent[0] == ("gx.fabric.events", b"the original", 3) and rec["written"] == "gx.fabric.events[3]@9"
