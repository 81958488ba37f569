"""Replaying a dead letter: only back to the topic it came from, only as the record it names there,
and on the record.

A dead letter is written by a worker that may write its dead-letter topic, and a compromised one
could plant any letter there (a projector may write gx.projections.dlq); a replay runs as an
operator's principal. So a letter is never trusted as it stands:

- its source must be a topic its dead-letter topic collects (:func:`sources`): gx.commands.dlq the
  submitter's (gx.commands) and the results writer's (gx.command-results), gx.projections.dlq the
  projectors' (gx.fabric.events). Anything else (gx.fabric.events named in gx.commands.dlq, another
  topic, none) is refused, and there is no way to name another target;
- what is sent is the record at the position the letter names, read back from that source topic
  (written there by the pipeline's own producer), to the same partition with its key, value and
  headers; a letter whose key or value differ from it is refused as tampered with (a reference,
  ``valueOmitted``, carries no value to compare: its key must match), and one whose record is
  gone (the source topic's retention) cannot be replayed. The block publisher's own dead letters
  (source ``fabric:<channel>``) name no record on Kafka: they are repaired from the ledger
  (`gxctl projections repair`), never replayed;
- every replay is recorded (:func:`audit_record`): who (the Kafka principal, the OS user and host),
  what (the letter and the record it names), when, and where the record went; as a record on the
  audit topic (gx.dlq.replays, kept a year; its count is the metric ``dlq_replays_recorded``,
  streams.replay_audit), in the headers of the replayed record (``replayOf``, ``replayedBy``,
  ``replayedAt``) and, by `gxctl dlq replay`, as a log line.

In the secure stack the replay logs in as ``gx-dlq-replayer`` (GX_KAFKA_REPLAY_USERNAME), allowed
to read the dead-letter and source topics and to write the source topics and the audit topic only
(stack.kafka_security). :func:`plan`, :func:`check_original`, :func:`replay_headers` and
:func:`audit_record` are pure; :func:`replay` does the I/O.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gxcommon.dlq import DeadLetter, DlqError, get
from gxcommon.kafka import Headers, Producer
from gxcommon.record_limits import MAX_RECORD_BYTES
from gxcommon.topics import TopicSettings

# The replayed record's own headers, set by the replay (a copy of the original's never wins).
REPLAY_HEADERS = ("replayOf", "replayedBy", "replayedAt")


def sources(t: TopicSettings) -> dict[str, frozenset[str]]:
    """Each dead-letter topic and the topics its letters may come from (and so go back to)."""
    return {
        t.commands_dlq: frozenset({t.commands, t.commands_direct, t.command_results}),
        t.projections_dlq: frozenset({t.fabric_events}),
    }


@dataclass(frozen=True)
class Who:
    """Who replays: the Kafka principal the replay logs in as, and the OS user and host it runs on."""

    principal: str
    user: str
    host: str

    def __str__(self) -> str:
        return f"{self.principal} ({self.user}@{self.host})"


@dataclass(frozen=True)
class ReplayPlan:
    """A letter (``dlq_topic[partition]@offset``) and the record it names, where it goes back to."""

    dlq_topic: str
    partition: int
    offset: int
    source_topic: str
    source_partition: int
    source_offset: int

    @property
    def letter(self) -> str:
        return f"{self.dlq_topic}[{self.partition}]@{self.offset}"

    @property
    def source(self) -> str:
        return f"{self.source_topic}[{self.source_partition}]@{self.source_offset}"


def plan(dlq_topic: str, letter: DeadLetter, t: TopicSettings) -> ReplayPlan:
    """Where ``letter`` of ``dlq_topic`` may go: the source position it names, if its dead-letter
    topic collects that topic. DlqError naming the letter and the reason otherwise."""
    where = f"{dlq_topic}[{letter.partition}]@{letter.offset}"
    allowed = sources(t).get(dlq_topic)
    if allowed is None:
        raise DlqError(
            f"{dlq_topic} is not a dead-letter topic of the pipeline ({', '.join(sorted(sources(t)))})",
            dlq_topic,
            letter.partition,
            letter.offset,
        )
    topic = letter.headers.get("sourceTopic", "")
    part, off = letter.headers.get("sourcePartition", ""), letter.headers.get("sourceOffset", "")
    if topic.startswith("fabric:") and dlq_topic == t.projections_dlq:
        raise DlqError(
            f"dead letter {where} is a ledger event the block publisher could not publish "
            f"({letter.headers.get('errorCode', '?')}): there is no record to replay; re-derive the read models "
            "from the ledger with `gxctl projections repair`",
            dlq_topic,
            letter.partition,
            letter.offset,
        )
    if topic not in allowed:
        raise DlqError(
            f"dead letter {where} names source {topic or '(none)'}, which is not a topic {dlq_topic} collects "
            f"({', '.join(sorted(allowed))}): not replayed",
            dlq_topic,
            letter.partition,
            letter.offset,
        )
    if not (part.isdigit() and off.isdigit()):
        raise DlqError(
            f"dead letter {where} names no source partition and offset: there is no record to replay",
            dlq_topic,
            letter.partition,
            letter.offset,
        )
    return ReplayPlan(dlq_topic, letter.partition, letter.offset, topic, int(part), int(off))


def check_original(p: ReplayPlan, letter: DeadLetter, original: DeadLetter) -> None:
    """DlqError unless ``original`` (the record at ``p``'s source) has the letter's key and value
    (its key only, for a reference: ``valueOmitted``, whose value stands in for the record's)."""
    reference = "valueOmitted" in letter.headers
    if original.key != letter.key or (not reference and original.value != letter.value):
        raise DlqError(
            f"dead letter {p.letter} does not match the record it names ({p.source}): its key or value was "
            "changed, so it is not replayed",
            p.dlq_topic,
            p.partition,
            p.offset,
        )


def replay_headers(original: DeadLetter, p: ReplayPlan, who: Who, when: datetime) -> Headers:
    """The original record's headers, then the replay's own (which name the letter, who and when)."""
    out: Headers = [(k, v.encode()) for k, v in original.headers.items() if k not in REPLAY_HEADERS]
    out += [
        ("replayOf", p.letter.encode()),
        ("replayedBy", str(who).encode()),
        ("replayedAt", when.isoformat().encode()),
    ]
    return out


def audit_record(
    p: ReplayPlan, letter: DeadLetter, sent: DeadLetter, who: Who, when: datetime, written: str
) -> dict[str, Any]:
    """What is recorded of one replay: who, when, the letter (its errorCode and requestId), the
    record it named, where that went (``written``: ``topic[partition]@offset``), and the SHA-256
    of the value ``sent`` (not the value itself)."""
    return {
        "event": "dead letter replayed",
        "time": when.isoformat(),
        "principal": who.principal,
        "user": who.user,
        "host": who.host,
        "letter": p.letter,
        "source": p.source,
        "written": written,
        "key": (letter.key or b"").decode("utf-8", "replace"),
        "errorCode": letter.headers.get("errorCode", ""),
        "requestId": letter.headers.get("requestId", ""),
        "valueSha256": hashlib.sha256(sent.value or b"").hexdigest(),
    }


def audit_headers(p: ReplayPlan, record: dict[str, Any]) -> Headers:
    """The audit record's headers, in the dead letters' vocabulary, so that `gxctl dlq list --topic
    gx.dlq.replays` lists the replays: the letter as the source, who, when and where as the reason."""
    reason = f"replayed by {record['principal']} ({record['user']}@{record['host']}) to {record['written']}"
    return [
        ("errorCode", b"REPLAYED"),
        ("reason", reason.encode()),
        ("sourceTopic", p.dlq_topic.encode()),
        ("sourcePartition", str(p.partition).encode()),
        ("sourceOffset", str(p.offset).encode()),
        ("time", str(record["time"]).encode()),
    ]


def replay(
    bootstrap: str,
    conf: dict[str, str],
    t: TopicSettings,
    dlq_topic: str,
    partition: int,
    offset: int,
    who: Who,
    now: datetime,
    timeout: float = 10,
) -> dict[str, Any]:
    """Replay the letter at ``dlq_topic[partition]@offset`` (see the module's doc) logged in with
    ``conf`` (empty: this process's own login); returns its audit record, also written to the audit
    topic. Raises DlqError when it is not replayable (nothing is sent then) or Kafka does not
    acknowledge the record or its audit record."""
    letter = get(bootstrap, dlq_topic, partition, offset, timeout, conf)
    p = plan(dlq_topic, letter, t)
    try:
        original = get(bootstrap, p.source_topic, p.source_partition, p.source_offset, timeout, conf)
    except DlqError:
        raise DlqError(
            f"dead letter {p.letter} names {p.source}, which is no longer there ({p.source_topic}'s retention): "
            "it cannot be replayed as the record it names; send the command again instead",
            dlq_topic,
            partition,
            offset,
        ) from None
    check_original(p, letter, original)
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "message.max.bytes": MAX_RECORD_BYTES, **conf}
    )
    delivered: list[str] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is None:
            delivered.append(f"{msg.topic()}[{msg.partition()}]@{msg.offset()}")

    producer.produce(
        p.source_topic,
        key=original.key,
        value=original.value,
        headers=replay_headers(original, p, who, now),
        partition=p.source_partition,
        on_delivery=on_delivery,
    )
    if producer.flush(30) != 0 or not delivered:
        raise DlqError(f"replay of {p.letter} to {p.source_topic} was not acknowledged", dlq_topic, partition, offset)
    record = audit_record(p, letter, original, who, now, delivered[0])
    producer.produce(
        t.dlq_replays,
        key=p.letter.encode(),
        value=json.dumps(record, separators=(",", ":")).encode(),
        headers=audit_headers(p, record),
    )
    if producer.flush(30) != 0:
        raise DlqError(
            f"{p.letter} was replayed ({delivered[0]}) but its audit record was not acknowledged by {t.dlq_replays}",
            dlq_topic,
            partition,
            offset,
        )
    return record
