"""From a parsed block to the records of gx.fabric.events, its dead letters and the block's marker. Pure.

Only VALID transactions publish: an MVCC conflict or an endorsement policy failure changed nothing
on the ledger, so its events are not state changes. Only the configured chaincode's events publish
(another chaincode on the channel is not ours to project). Each chaincode event becomes one
record: key = the entity the event is about, partition = :func:`schemas.events.partition_for` of
that key, value = the event envelope (JSON). A payload that is not a JSON object is still published
(under ``payload.raw``) so that the projections dead-letter it with the reason.

Headers: eventName, txId, block, requestId, and tenantId: the tenant the chaincode keyed the
command by, the first argument of the transaction's invocation (function, tenantId, requestId, ...)
when its requestId is the event's (:func:`tenant_of`), else empty. The payload does not carry it,
and the outbox knows a command by (tenantId, requestId) (streams.corrector matches on it).

No block may halt the read side. What cannot be published becomes a dead letter on the
projections' dead-letter topic, in the same Kafka transaction as the block's other records, naming
the block, transaction and event: a VALID transaction that cannot be decoded
(UNDECODABLE_TRANSACTION), and an event whose record exceeds ``max_bytes`` (EVENT_TOO_LARGE; the
limit the topic, the producer and the consumers are configured for, see gxcommon.topics). The
blocks after it flow; an alert says so (publisher_dead_letters_total).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from fabric_gateway.blocks import Block
from gxcommon.record_limits import MAX_EVENT_BYTES
from schemas.events import SCHEMA_VERSION, event_key, partition_for

# Record values above MAX_EVENT_BYTES go to the dead-letter topic instead (a little under the topics'
# max.message.bytes, 1 MiB, leaving room for the key, headers and the batch's own overhead).


@dataclass(frozen=True, slots=True)
class OutRecord:
    partition: int
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class BlockOut:
    """What one block publishes: its records, its dead letters (with their error codes), and the
    events of other chaincodes it skipped."""

    records: list[OutRecord]
    dead: list[tuple[str, OutRecord]] = field(default_factory=list)
    skipped_foreign: int = 0


def _payload(raw: bytes) -> dict:
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return {"raw": raw.decode("utf-8", "replace")}
    return obj if isinstance(obj, dict) else {"raw": obj}


def _dead(
    code: str,
    reason: str,
    block: Block,
    channel: str,
    tx_index: int,
    tx_id: str,
    event: tuple[int, str] | None,
    size: int,
) -> tuple[str, OutRecord]:
    """A dead letter describing what could not be published (never the oversized content itself)."""
    from datetime import UTC, datetime

    doc = {
        "channel": channel,
        "block": block.number,
        "txIndex": tx_index,
        "txId": tx_id,
        "eventIndex": event[0] if event else None,
        "name": event[1] if event else None,
        "bytes": size,
        "reason": reason,
    }
    headers = (
        ("reason", reason.encode()),
        ("errorCode", code.encode()),
        ("sourceTopic", f"fabric:{channel}".encode()),
        ("sourcePartition", b"0"),
        ("sourceOffset", str(block.number).encode()),
        ("attempts", b"0"),
        ("time", datetime.now(UTC).isoformat().encode()),
        ("block", str(block.number).encode()),
        ("txId", tx_id.encode()),
        *((("eventIndex", str(event[0]).encode()),) if event else ()),
        ("projector", b"block-publisher"),
    )
    return code, OutRecord(0, f"{block.number}:{tx_index}".encode(), json.dumps(doc).encode(), headers)


def tenant_of(args: tuple[bytes, ...], request_id: str | None) -> str | None:
    """The tenant of a command's invocation ``args`` (function, tenantId, requestId, ...), if its
    requestId is ``request_id`` (the chaincode's idempotency key is exactly that pair); else None."""
    if request_id is None or len(args) < 3 or args[2] != request_id.encode():
        return None
    try:
        return args[1].decode()
    except UnicodeDecodeError:
        return None


def block_out(
    block: Block, channel: str, partitions: int, chaincode: str, max_bytes: int = MAX_EVENT_BYTES
) -> BlockOut:
    """The records of every valid transaction's events of ``chaincode``, in ledger order, and the
    dead letters of what cannot be published."""
    out, dead, foreign = [], [], 0
    for tx in block.transactions:
        if not tx.valid:
            continue
        if tx.error is not None:
            dead.append(
                _dead(
                    "UNDECODABLE_TRANSACTION",
                    f"transaction {tx.index} of block {block.number} could not be decoded: {tx.error}",
                    block,
                    channel,
                    tx.index,
                    tx.tx_id,
                    None,
                    tx.size,
                )
            )
            continue
        for index, ev in enumerate(tx.events):
            if ev.chaincode != chaincode:
                foreign += 1
                continue
            payload = _payload(ev.payload)
            request_id = payload.get("requestId") if isinstance(payload.get("requestId"), str) else None
            version = payload.get("schemaVersion")
            env = {
                "channel": channel,
                "block": block.number,
                "txId": tx.tx_id,
                "txIndex": tx.index,
                "eventIndex": index,
                "name": ev.name,
                "payload": payload,
                "commitTime": tx.timestamp.isoformat(),
                "schemaVersion": version if isinstance(version, int) and version >= 1 else SCHEMA_VERSION,
                "requestId": request_id,
            }
            value = json.dumps(env, separators=(",", ":")).encode()
            if len(value) > max_bytes:
                dead.append(
                    _dead(
                        "EVENT_TOO_LARGE",
                        f"event {index} ({ev.name}) of transaction {tx.tx_id} in block "
                        f"{block.number} is {len(value)} bytes, over the {max_bytes} a record may hold",
                        block,
                        channel,
                        tx.index,
                        tx.tx_id,
                        (index, ev.name),
                        len(value),
                    )
                )
                continue
            key = event_key(ev.name, payload)
            headers = (
                ("eventName", ev.name.encode()),
                ("txId", tx.tx_id.encode()),
                ("block", str(block.number).encode()),
                ("requestId", (request_id or "").encode()),
                ("tenantId", (tenant_of(tx.args, request_id) or "").encode()),
            )
            out.append(OutRecord(partition_for(key, partitions), key.encode(), value, headers))
    return BlockOut(out, dead, foreign)


def block_records(block: Block, channel: str, partitions: int, chaincode: str = "gxtv3") -> list[OutRecord]:
    """The publishable records of a block (see :func:`block_out`)."""
    return block_out(block, channel, partitions, chaincode).records


def marker(channel: str, block: int, records: int, block_hash: bytes = b"") -> bytes:
    """The value of gx.fabric.blocks for a published block (key: the channel): its number, its
    record count and its header hash (the next block must name it as its predecessor)."""
    return json.dumps({"channel": channel, "block": block, "records": records, "hash": block_hash.hex()}).encode()


def marker_block(value: bytes | None) -> int | None:
    """The block number a marker records, or None if it is not a marker."""
    m = marker_of(value)
    return m[0] if m else None


def marker_of(value: bytes | None) -> tuple[int, bytes] | None:
    """(block number, header hash) of a marker (the hash empty in markers older than it), or None."""
    try:
        obj = json.loads(value or b"")
    except ValueError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("block"), int):
        return None
    try:
        return obj["block"], bytes.fromhex(obj.get("hash") or "")
    except ValueError:
        return obj["block"], b""


def continues(previous: tuple[int, bytes] | None, block: Block) -> str | None:
    """None if ``block`` continues the chain published so far (``previous``: the last marker's
    number and hash), else why not."""
    if previous is None:
        return None if block.number == 0 else f"the first block published would be {block.number}, not 0"
    number, h = previous
    if block.number != number + 1:
        return f"block {block.number} does not follow the last published block {number}"
    if h and block.previous_hash != h:
        return (
            f"block {block.number} names {block.previous_hash.hex()[:16]}... as its predecessor, but block {number} "
            f"published was {h.hex()[:16]}...: the peer's chain is not the one published (a new network under "
            "an old Kafka?)"
        )
    return None
