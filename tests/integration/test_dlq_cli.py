"""`gxctl dlq list|show|replay` on the real broker."""

from __future__ import annotations

import json
import uuid

from gxcommon.dlq import dead_letter_headers
from gxcommon.kafka import Producer
from tests.integration.conftest import gxctl
from tests.integration.kafka_helpers import TopicReader


def test_a_dead_letter_is_listed_shown_and_replayed_to_its_source(pipeline: dict[str, str]) -> None:
    tag = uuid.uuid4().hex[:8]
    value = json.dumps({"id": f"cmd-{tag}", "payload": {"amount": 0}}).encode()
    headers = dead_letter_headers(
        f"TRANSFER_TOKENS payload: amount: Input should be greater than 0 ({tag})",
        "INVALID_PAYLOAD",
        "gx.commands",
        2,
        17,
        0,
    )
    headers |= {
        "id": f"cmd-{tag}".encode(),
        "tenantId": b"t-dlq",
        "requestId": tag.encode(),
        "commandType": b"TRANSFER_TOKENS",
        "service": b"s",
    }
    p = Producer({"bootstrap.servers": pipeline["GX_KAFKA_BOOTSTRAP"]})
    p.produce("gx.commands.dlq", key=f"wallet-{tag}".encode(), value=value, headers=list(headers.items()))
    assert p.flush(30) == 0

    listed = json.loads(gxctl("dlq", "list", "--json", "--limit", "10000").stdout)
    mine = [r for r in listed if tag in r["reason"]]
    assert len(mine) == 1
    assert mine[0]["errorCode"] == "INVALID_PAYLOAD" and mine[0]["source"] == "gx.commands[2]@17"
    part, off = str(mine[0]["partition"]), str(mine[0]["offset"])

    shown = json.loads(gxctl("dlq", "show", part, off, "--json").stdout)
    assert shown["value"] == {"id": f"cmd-{tag}", "payload": {"amount": 0}}
    assert shown["headers"]["attempts"] == "0" and shown["headers"]["time"]

    out = json.loads(gxctl("dlq", "replay", part, off, "--json").stdout)
    assert out["to"] == "gx.commands"
    r = TopicReader(pipeline["GX_KAFKA_BOOTSTRAP"], "gx.commands", lambda rec: rec.headers.get("requestId") == tag)
    try:
        got = r.read_until(lambda recs: bool(recs), 60)
    finally:
        r.close()
    assert len(got) == 1 and got[0].raw == value and got[0].key == f"wallet-{tag}"
    assert got[0].headers["replayOf"] == f"gx.commands.dlq[{part}]@{off}"
    assert got[0].headers["tenantId"] == "t-dlq"

    missing = gxctl("dlq", "show", part, "999999", check=False)
    assert missing.returncode == 1 and "no dead letter at gx.commands.dlq" in missing.stderr
