"""Hostile records on gx.commands (issue 30's fault harness): what an upstream service producing
straight to Kafka (the SDK path) can put there that is not a command.

On every partition of gx.commands, while the harness's load goes on: a key that is not UTF-8, no
key, a value that is not JSON, a header that is not UTF-8 and a record near the size limit. The
submitter must dead-letter each one with its source partition and offset and a reason, and the
load's good commands behind them on the same partitions must still end final (the harness's
"lost" check).

:func:`produce` sends them; :func:`missing` (pure) says which ones have no dead letter.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.common import message_headers
from gxcommon.kafka import Headers
from gxcommon.record_limits import MAX_RECORD_BYTES

COMMANDS, DLQ = "gx.commands", "gx.commands.dlq"
KINDS = ("key-not-utf8", "no-key", "value-not-json", "header-not-utf8", "near-size-limit")


@dataclass(frozen=True)
class Sent:
    kind: str
    partition: int
    offset: int


def _envelope(tenant: str, rid: str, pad: int = 0) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "tenantId": tenant,
        "service": "chaos",
        "commandType": "CREATE_USER",
        "requestId": rid,
        "payload": {"userId": rid, "email": "h@example.com", "firstName": "H", "lastName": "X", "country": "MY"}
        | ({"padding": "x" * pad} if pad else {}),
        "key": rid,
        "createdAt": datetime.now(UTC).isoformat(),
        "correlationId": None,
    }


def records(tenant: str, tag: str) -> list[tuple[str, bytes | None, bytes, Headers]]:
    """(kind, key, value, headers) of each hostile record, in KINDS' order."""
    ok_headers: Headers = [("tenantId", tenant.encode()), ("commandType", b"CREATE_USER")]

    def env(kind: str, pad: int = 0) -> bytes:
        return json.dumps(_envelope(tenant, f"{tenant}-{kind}-{tag}", pad)).encode()

    return [
        ("key-not-utf8", b"\xff\xfe-" + tag.encode(), env("key-not-utf8"), ok_headers),
        ("no-key", None, env("no-key"), ok_headers),
        ("value-not-json", f"hostile-{tag}".encode(), b"\x00{not json", ok_headers),
        ("header-not-utf8", f"hostile-{tag}".encode(), env("header-not-utf8"), [*ok_headers, ("requestId", b"\xc3(")]),
        ("near-size-limit", f"hostile-{tag}".encode(), env("near-size-limit", MAX_RECORD_BYTES - 2000), ok_headers),
    ]


def produce(bootstrap: str, tenant: str) -> tuple[list[Sent], int]:
    """Every hostile record on every partition of gx.commands; (what was sent, the time in ms
    before the first). Raises RuntimeError if Kafka does not acknowledge them all."""
    from gxsdk.produce import command_producer

    since_ms = int(time.time() * 1000)
    p = command_producer(bootstrap, **{"message.max.bytes": MAX_RECORD_BYTES + 10_000})
    parts = sorted(p.list_topics(COMMANDS, timeout=10).topics[COMMANDS].partitions)
    sent: list[Sent] = []
    failed: list[str] = []

    def report(kind: str) -> Any:
        def on_delivery(err: Any, msg: Any) -> None:
            if err is not None:
                failed.append(f"{kind}: {err}")
            else:
                sent.append(Sent(kind, msg.partition(), msg.offset()))

        return on_delivery

    tag = uuid.uuid4().hex[:8]
    for part in parts:
        for kind, key, value, headers in records(tenant, tag):
            p.produce(COMMANDS, key=key, value=value, headers=headers, partition=part, on_delivery=report(kind))
            p.poll(0)
    if p.flush(30) != 0 or failed:
        raise RuntimeError(f"hostile records not acknowledged by Kafka: {failed or 'flush timed out'}")
    return sent, since_ms


def dead_letters(bootstrap: str, since_ms: int, timeout: float = 60) -> dict[tuple[int, int], str]:
    """(sourcePartition, sourceOffset) -> errorCode of gx.commands' dead letters from ``since_ms``
    on gx.commands.dlq (read to its end)."""
    from confluent_kafka import TopicPartition

    from gxcommon.kafka import Consumer

    out: dict[tuple[int, int], str] = {}
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"chaos-{uuid.uuid4()}", "enable.auto.commit": False})
    try:
        parts = c.list_topics(DLQ, timeout=10).topics[DLQ].partitions
        starts = c.offsets_for_times([TopicPartition(DLQ, p, since_ms) for p in parts], 10)
        ends = {p: c.get_watermark_offsets(TopicPartition(DLQ, p), timeout=10)[1] for p in parts}
        todo = {tp.partition for tp in starts if 0 <= tp.offset < ends[tp.partition]}
        c.assign([tp for tp in starts if tp.partition in todo])
        deadline = time.monotonic() + timeout
        while todo and time.monotonic() < deadline:
            for m in c.consume(100, 0.5):
                if m.error():
                    continue
                if (m.offset() or 0) + 1 >= ends[m.partition() or 0]:
                    todo.discard(m.partition() or 0)
                h = message_headers(m)
                if h.get("sourceTopic", COMMANDS) == COMMANDS and h.get("sourcePartition", "").isdigit():
                    out[(int(h["sourcePartition"]), int(h.get("sourceOffset", "-1")))] = h.get("errorCode", "?")
    finally:
        c.close()
    return out


def missing(sent: list[Sent], letters: dict[tuple[int, int], str]) -> list[str]:
    """The hostile records with no dead letter naming their partition and offset, described."""
    return [f"{s.kind} at {s.partition}@{s.offset}" for s in sent if (s.partition, s.offset) not in letters]


def wait_dead_lettered(bootstrap: str, sent: list[Sent], since_ms: int, timeout: float = 180) -> dict[str, Any]:
    """Poll gx.commands.dlq until every hostile record has its dead letter or ``timeout``;
    {"ok", "dead_lettered", "missing", "codes"}."""
    end = time.monotonic() + timeout
    while True:
        letters = dead_letters(bootstrap, since_ms)
        left = missing(sent, letters)
        if not left or time.monotonic() > end:
            codes = sorted(
                {f"{s.kind}: {letters[(s.partition, s.offset)]}" for s in sent if (s.partition, s.offset) in letters}
            )
            return {"ok": not left, "dead_lettered": len(sent) - len(left), "missing": left[:10], "codes": codes}
        time.sleep(2)
