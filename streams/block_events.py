"""From a parsed block to the records of gx.fabric.events and the block's marker. Pure.

Only VALID transactions publish: an MVCC conflict or an endorsement policy failure changed nothing
on the ledger, so its events are not state changes. Each chaincode event becomes one record:
key = the entity the event is about, partition = :func:`schemas.events.partition_for` of that key,
value = the event envelope (JSON). A payload that is not a JSON object is still published (under
``payload.raw``) so that the projections dead-letter it with the reason: nothing vanishes here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from fabric_gateway.blocks import Block
from schemas.events import SCHEMA_VERSION, event_key, partition_for


@dataclass(frozen=True, slots=True)
class OutRecord:
    partition: int
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


def _payload(raw: bytes) -> dict:
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return {"raw": raw.decode("utf-8", "replace")}
    return obj if isinstance(obj, dict) else {"raw": obj}


def block_records(block: Block, channel: str, partitions: int) -> list[OutRecord]:
    """The records of every valid transaction's chaincode events, in ledger order."""
    out = []
    for tx in block.transactions:
        if not tx.valid:
            continue
        for index, ev in enumerate(tx.events):
            payload = _payload(ev.payload)
            request_id = payload.get("requestId") if isinstance(payload.get("requestId"), str) else None
            version = payload.get("schemaVersion")
            env = {"channel": channel, "block": block.number, "txId": tx.tx_id, "txIndex": tx.index,
                   "eventIndex": index, "name": ev.name, "payload": payload,
                   "commitTime": tx.timestamp.isoformat(),
                   "schemaVersion": version if isinstance(version, int) and version >= 1 else SCHEMA_VERSION,
                   "requestId": request_id}
            key = event_key(ev.name, payload)
            headers = (("eventName", ev.name.encode()), ("txId", tx.tx_id.encode()),
                       ("block", str(block.number).encode()), ("requestId", (request_id or "").encode()))
            out.append(OutRecord(partition_for(key, partitions), key.encode(),
                                 json.dumps(env, separators=(",", ":")).encode(), headers))
    return out


def marker(channel: str, block: int, records: int) -> bytes:
    """The value of gx.fabric.blocks for a published block (key: the channel)."""
    return json.dumps({"channel": channel, "block": block, "records": records}).encode()


def marker_block(value: bytes | None) -> int | None:
    """The block number a marker records, or None if it is not a marker."""
    try:
        obj = json.loads(value or b"")
        return int(obj["block"]) if isinstance(obj, dict) and isinstance(obj.get("block"), int) else None
    except ValueError:
        return None
