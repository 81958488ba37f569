"""`gxctl dlq list|show|replay` on the real broker."""

from __future__ import annotations

import json
import uuid

from gxcommon.dlq import dead_letter_headers
from gxcommon.kafka import Producer
from tests.integration.conftest import gxctl
from tests.integration.kafka_helpers import TopicReader


def _produce(bootstrap: str, topic: str, key: bytes, value: bytes, headers: dict[str, bytes]) -> tuple[int, int]:
    """One record; its (partition, offset)."""
    where: list[tuple[int | None, int | None]] = []
    p = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
    p.produce(
        topic,
        key=key,
        value=value,
        headers=list(headers.items()),
        on_delivery=lambda e, m: where.append((m.partition(), m.offset())),
    )
    assert p.flush(30) == 0 and where
    part, off = where[0]
    assert part is not None and off is not None
    return part, off


def test_a_dead_letter_is_listed_shown_and_replayed_to_its_source(pipeline: dict[str, str]) -> None:
    """The record the letter names is sent again, read back from gx.commands, and the replay is
    recorded on gx.dlq.replays."""
    bootstrap = pipeline["GX_KAFKA_BOOTSTRAP"]
    tag = uuid.uuid4().hex[:8]
    value = json.dumps({"id": f"cmd-{tag}", "payload": {"amount": 0}}).encode()
    original = {
        "id": f"cmd-{tag}".encode(),
        "tenantId": b"t-dlq",
        "requestId": tag.encode(),
        "commandType": b"TRANSFER_TOKENS",
        "service": b"s",
    }
    key = f"wallet-{tag}".encode()
    src_part, src_off = _produce(bootstrap, "gx.commands", key, value, original)
    reason = f"TRANSFER_TOKENS payload: amount: Input should be greater than 0 ({tag})"
    headers = dead_letter_headers(reason, "INVALID_PAYLOAD", "gx.commands", src_part, src_off, 0) | original
    _produce(bootstrap, "gx.commands.dlq", key, value, headers)

    listed = json.loads(gxctl("dlq", "list", "--json", "--limit", "10000").stdout)
    mine = [r for r in listed if tag in r["reason"]]
    assert len(mine) == 1
    assert mine[0]["errorCode"] == "INVALID_PAYLOAD" and mine[0]["source"] == f"gx.commands[{src_part}]@{src_off}"
    part, off = str(mine[0]["partition"]), str(mine[0]["offset"])

    shown = json.loads(gxctl("dlq", "show", part, off, "--json").stdout)
    assert shown["value"] == {"id": f"cmd-{tag}", "payload": {"amount": 0}}
    assert shown["headers"]["attempts"] == "0" and shown["headers"]["time"]

    proc = gxctl("dlq", "replay", part, off, "--json")
    out = json.loads(proc.stdout)
    assert out["to"].startswith(f"gx.commands[{src_part}]@")
    assert "dead letter replayed" in proc.stderr and f"gx.commands.dlq[{part}]@{off}" in proc.stderr  # the log line
    r = TopicReader(
        bootstrap, "gx.commands", lambda rec: rec.headers.get("requestId") == tag and "replayOf" in rec.headers
    )
    try:
        got = r.read_until(lambda recs: bool(recs), 60)
    finally:
        r.close()
    assert len(got) == 1 and got[0].raw == value and got[0].key == f"wallet-{tag}" and got[0].partition == src_part
    assert got[0].headers["replayOf"] == f"gx.commands.dlq[{part}]@{off}"
    assert (
        got[0].headers["tenantId"] == "t-dlq"
        and got[0].headers["replayedBy"]
        == out["audit"]["principal"] + " (" + out["audit"]["user"] + "@" + out["audit"]["host"] + ")"
    )
    audit = TopicReader(bootstrap, "gx.dlq.replays", lambda rec: rec.key == f"gx.commands.dlq[{part}]@{off}")
    try:
        (recorded,) = audit.read_until(lambda recs: bool(recs), 60)
    finally:
        audit.close()
    assert recorded.value == out["audit"] and recorded.value["written"] == out["to"]

    missing = gxctl("dlq", "show", part, "999999", check=False)
    assert missing.returncode == 1 and "no dead letter at gx.commands.dlq" in missing.stderr


def test_a_planted_or_altered_letter_is_not_replayed(pipeline: dict[str, str]) -> None:
    """What a worker that may write a dead-letter topic could plant: a letter aimed at another
    topic, or one whose value differs from the record it names. Refused, nothing sent."""
    bootstrap = pipeline["GX_KAFKA_BOOTSTRAP"]
    tag = uuid.uuid4().hex[:8]
    key, value = f"k-{tag}".encode(), b'{"forged": true}'
    planted = dead_letter_headers("x", "APPLY_ERROR", "gx.commands", 0, 0, 0)
    part, off = _produce(bootstrap, "gx.projections.dlq", key, value, planted)
    proc = gxctl("dlq", "replay", str(part), str(off), "--topic", "gx.projections.dlq", check=False)
    assert proc.returncode == 1, proc.stdout
    assert "names source gx.commands, which is not a topic gx.projections.dlq collects" in proc.stderr
    src_part, src_off = _produce(bootstrap, "gx.commands", key, b'{"the": "original"}', {"requestId": tag.encode()})
    altered = dead_letter_headers("x", "INVALID_PAYLOAD", "gx.commands", src_part, src_off, 0)
    part, off = _produce(bootstrap, "gx.commands.dlq", key, value, altered)
    proc = gxctl("dlq", "replay", str(part), str(off), check=False)
    assert proc.returncode == 1 and "does not match the record it names" in proc.stderr, proc.stderr
    proc = gxctl("dlq", "replay", str(part), str(off), "--to", "gx.fabric.events", check=False)
    assert proc.returncode == 2 and "No such option: --to" in proc.stderr
