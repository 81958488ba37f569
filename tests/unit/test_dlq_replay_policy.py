"""`gxctl dlq replay` is no injection path (issue 33, finding 3): a letter goes back only to a source
its dead-letter topic collects, only as the record it names there, and every replay is recorded."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

from gxcommon import dlq_replay
from gxcommon.dlq import DeadLetter, DlqError
from gxcommon.dlq_replay import Who, audit_record, check_original, plan, replay_headers
from gxcommon.topics import TopicSettings

T = TopicSettings()
WHO = Who("gx-dlq-replayer", "ops", "host-1")
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def letter(source: str, part: str = "2", off: str = "17", value: bytes = b'{"v":1}', **headers: str) -> DeadLetter:
    h = {"sourceTopic": source, "sourcePartition": part, "sourceOffset": off, "errorCode": "X", **headers}
    return DeadLetter(0, 5, b"k", value, h, 0)


@pytest.mark.parametrize(
    ("dlq", "source"),
    [
        ("gx.projections.dlq", "gx.commands"),  # a projector plants a command for an operator to send
        ("gx.projections.dlq", "gx.command-results"),
        ("gx.commands.dlq", "gx.fabric.events"),  # a forged ledger event through the other dead-letter topic
        ("gx.commands.dlq", "gx.commands.dlq"),
        ("gx.commands.dlq", ""),
    ],
)
def test_a_letter_naming_a_source_its_dead_letter_topic_does_not_collect_is_refused(dlq: str, source: str) -> None:
    named = re.escape(source or "(none)")
    with pytest.raises(DlqError, match=rf"names source {named}, which is not a topic {re.escape(dlq)} collects"):
        plan(dlq, letter(source), T)


def test_only_the_pipelines_dead_letter_topics_are_replayed_and_only_from_a_named_position() -> None:
    with pytest.raises(DlqError, match=r"gx\.dlq\.replays is not a dead-letter topic"):
        plan("gx.dlq.replays", letter("gx.commands"), T)
    with pytest.raises(DlqError, match="names no source partition and offset"):
        plan("gx.commands.dlq", letter("gx.commands", part=""), T)
    p = plan("gx.commands.dlq", letter("gx.command-results", "4", "99"), T)
    assert (p.source_topic, p.source_partition, p.source_offset) == ("gx.command-results", 4, 99)
    assert (p.letter, p.source) == ("gx.commands.dlq[0]@5", "gx.command-results[4]@99")
    assert plan("gx.projections.dlq", letter("gx.fabric.events"), T).source_topic == "gx.fabric.events"
    scratch = TopicSettings(fabric_events="t-events", projections_dlq="t-dlq")
    assert plan("t-dlq", letter("t-events"), scratch).source_topic == "t-events"


def test_a_letter_that_differs_from_the_record_it_names_is_refused() -> None:
    p = plan("gx.commands.dlq", letter("gx.commands"), T)
    original = DeadLetter(2, 17, b"k", b'{"v":1}', {"requestId": "r"}, 0)
    check_original(p, letter("gx.commands"), original)
    with pytest.raises(DlqError, match=r"does not match the record it names \(gx.commands\[2\]@17\)"):
        check_original(p, letter("gx.commands", value=b'{"v":"forged"}'), original)


def test_the_replayed_record_carries_its_own_headers_and_who_replayed_it_when() -> None:
    p = plan("gx.commands.dlq", letter("gx.commands"), T)
    original = DeadLetter(2, 17, b"k", b'{"v":1}', {"requestId": "r", "replayedBy": "forged"}, 0)
    headers = dict(replay_headers(original, p, WHO, NOW))
    assert headers == {
        "requestId": b"r",
        "replayOf": b"gx.commands.dlq[0]@5",
        "replayedBy": b"gx-dlq-replayer (ops@host-1)",
        "replayedAt": b"2026-12-07T10:00:00+00:00",
    }
    rec = audit_record(p, letter("gx.commands", requestId="r"), original, WHO, NOW, "gx.commands[2]@40")
    assert rec == {
        "event": "dead letter replayed",
        "time": "2026-12-07T10:00:00+00:00",
        "principal": "gx-dlq-replayer",
        "user": "ops",
        "host": "host-1",
        "letter": "gx.commands.dlq[0]@5",
        "source": "gx.commands[2]@17",
        "written": "gx.commands[2]@40",
        "key": "k",
        "errorCode": "X",
        "requestId": "r",
        "valueSha256": hashlib.sha256(b'{"v":1}').hexdigest(),
    }
    assert '{"v":1}' not in json.dumps(rec)


class Delivered:
    def __init__(self, topic: str, partition: int) -> None:
        self._topic, self._partition = topic, partition

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return 40


class FakeProducer:
    sent: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def __init__(self, conf: dict[str, Any]) -> None:
        self.conf = conf
        self.pending: list[Any] = []

    def produce(self, topic: str, **kw: Any) -> None:
        FakeProducer.sent.append((topic, kw))
        if kw.get("on_delivery"):
            self.pending.append((kw["on_delivery"], topic, kw.get("partition", 0)))

    def flush(self, timeout: float) -> int:
        for cb, topic, part in self.pending:
            cb(None, Delivered(topic, part))
        self.pending = []
        return 0


def test_replay_sends_the_record_read_back_from_its_source_and_records_it(monkeypatch: pytest.MonkeyPatch) -> None:
    stored = {
        ("gx.projections.dlq", 0, 5): letter("gx.fabric.events", "3", "8"),
        ("gx.fabric.events", 3, 8): DeadLetter(3, 8, b"k", b'{"v":1}', {"blockNumber": "9"}, 0),
    }
    asked: list[tuple[str, int, int, dict]] = []

    def get(bootstrap: str, topic: str, partition: int, offset: int, timeout: float, conf: dict) -> DeadLetter:
        asked.append((topic, partition, offset, conf))
        if (topic, partition, offset) not in stored:
            raise DlqError("no dead letter", topic)
        return stored[(topic, partition, offset)]

    FakeProducer.sent = []
    monkeypatch.setattr(dlq_replay, "get", get)
    monkeypatch.setattr(dlq_replay, "Producer", FakeProducer)
    login = {"sasl.username": "gx-dlq-replayer"}
    rec = dlq_replay.replay("k:9092", login, T, "gx.projections.dlq", 0, 5, WHO, NOW)
    assert [a[:3] for a in asked] == [("gx.projections.dlq", 0, 5), ("gx.fabric.events", 3, 8)]
    assert all(a[3] == login for a in asked)
    (topic, sent), (audit_topic, audit) = FakeProducer.sent
    assert topic == "gx.fabric.events" and sent["partition"] == 3 and sent["value"] == b'{"v":1}'
    assert dict(sent["headers"])["blockNumber"] == b"9" and dict(sent["headers"])["replayOf"]
    assert audit_topic == "gx.dlq.replays" and json.loads(audit["value"]) == rec
    assert rec["written"] == "gx.fabric.events[3]@40" and rec["principal"] == "gx-dlq-replayer"
    assert dict(audit["headers"])["reason"] == b"replayed by gx-dlq-replayer (ops@host-1) to gx.fabric.events[3]@40"
    # The record it names is gone (retention): nothing is sent.
    FakeProducer.sent = []
    stored[("gx.commands.dlq", 0, 6)] = letter("gx.commands", "1", "2")
    with pytest.raises(DlqError, match=r"names gx.commands\[1\]@2, which is no longer there"):
        dlq_replay.replay("k:9092", {}, T, "gx.commands.dlq", 0, 6, WHO, NOW)
    assert FakeProducer.sent == []
