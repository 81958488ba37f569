"""`gxctl dlq replay` of what cannot be replayed as it is (issue 32, defects 3 and 8)."""

from __future__ import annotations

import pytest

from gxcommon import dlq
from gxcommon.dlq import DeadLetter, DlqError


def test_a_publisher_dead_letter_names_no_record_and_points_to_the_repair() -> None:
    """Its source is ``fabric:<channel>``, no topic: replaying produced to a topic of that name."""
    letter = DeadLetter(0, 4, b"9:0", b"{}", {"sourceTopic": "fabric:gxchannel", "errorCode": "EVENT_TOO_LARGE"}, 0)
    with pytest.raises(DlqError, match=r"could not publish \(EVENT_TOO_LARGE\).*gxctl projections repair"):
        dlq.replay("kafka:9092", "gx.projections.dlq", letter)


def test_a_reference_replays_the_record_it_names(monkeypatch: pytest.MonkeyPatch) -> None:
    headers = {"sourceTopic": "gx.fabric.events", "sourcePartition": "3", "sourceOffset": "17", "valueOmitted": "9"}
    ref = DeadLetter(0, 5, b"org-1", b'{"reference": {}}', headers, 0)
    asked: list[tuple[str, int, int]] = []

    def get(bootstrap: str, topic: str, partition: int, offset: int, timeout: float = 10) -> DeadLetter:
        asked.append((topic, partition, offset))
        return DeadLetter(partition, offset, b"org-1", b"the original", {}, 0)

    sent: list[tuple[str, bytes | None, int | None]] = []

    class P:
        def __init__(self, conf: dict) -> None:
            self.conf = conf

        def produce(self, topic: str, key: bytes | None = None, value: bytes = b"", headers=None, partition=None):
            sent.append((topic, value, partition))

        def flush(self, timeout: float) -> int:
            return 0

    monkeypatch.setattr(dlq, "get", get)
    monkeypatch.setattr(dlq, "Producer", P)
    assert dlq.replay("kafka:9092", "gx.projections.dlq", ref) == "gx.fabric.events"
    assert asked == [("gx.fabric.events", 3, 17)] and sent == [("gx.fabric.events", b"the original", 3)]
