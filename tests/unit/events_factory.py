"""Building gx.fabric.events records for unit tests (what the publisher would write)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from projections.model import Record
from schemas.events import event_key

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def envelope(
    name: str, payload: dict[str, Any], block: int, tx_index: int = 0, event_index: int = 0, version: int = 1
) -> dict[str, Any]:
    return {
        "channel": "gxchannel",
        "block": block,
        "txId": f"tx{block}-{tx_index}",
        "txIndex": tx_index,
        "eventIndex": event_index,
        "name": name,
        "payload": {"schemaVersion": version, "requestId": f"r{block}-{tx_index}", **payload},
        "commitTime": (EPOCH + timedelta(seconds=block)).isoformat(),
        "schemaVersion": version,
        "requestId": f"r{block}-{tx_index}",
    }


def record(
    offset: int, name: str, payload: dict[str, Any], block: int | None = None, partition: int = 0, **kw: Any
) -> Record:
    env = envelope(name, payload, offset if block is None else block, **kw)
    return Record(
        "gx.fabric.events", partition, offset, json.dumps(env).encode(), event_key(name, env["payload"]).encode()
    )
