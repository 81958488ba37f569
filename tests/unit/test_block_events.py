"""The block publisher's pure core: which records a block becomes (streams.block_events)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fabric_gateway.blocks import Block, BlockTransaction, ChaincodeEvent
from schemas.events import parse_event, partition_for
from streams.block_events import block_records, marker, marker_block

TS = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def tx(index: int, code: str, *events: tuple[str, dict]) -> BlockTransaction:
    return BlockTransaction(index, f"t{index}", "ENDORSER_TRANSACTION", code, TS, tuple(
        ChaincodeEvent(7, f"t{index}", "gxtv3", name, json.dumps(p).encode()) for name, p in events))


def test_valid_transactions_publish_keyed_records_and_invalid_ones_nothing() -> None:
    moved = {"schemaVersion": 1, "requestId": "r1", "fromWalletId": "A", "toWalletId": "B", "amount": 5, "memo": ""}
    block = Block(7, (tx(0, "VALID", ("TokensTransferred", moved)),
                      tx(1, "MVCC_READ_CONFLICT", ("TokensTransferred", {**moved, "requestId": "r2"})),
                      tx(2, "VALID", ("WalletFrozen", {"schemaVersion": 1, "requestId": "r3", "walletId": "B",
                                                       "reason": "kyc"}))))
    out = block_records(block, "gxchannel", 6)
    assert [r.key for r in out] == [b"A", b"B"]
    assert [r.partition for r in out] == [partition_for("A", 6), partition_for("B", 6)]
    env, payload = parse_event(out[0].value)
    assert (env.block, env.txId, env.txIndex, env.eventIndex, env.requestId) == (7, "t0", 0, 0, "r1")
    assert env.commitTime == TS and payload.amount == 5  # type: ignore[attr-defined]
    assert parse_event(out[1].value)[0].txIndex == 2
    assert dict(out[0].headers)["requestId"] == b"r1"


def test_a_payload_that_is_not_json_is_still_published_for_the_dead_letter_topic() -> None:
    bad = BlockTransaction(0, "t0", "ENDORSER_TRANSACTION", "VALID", TS,
                           (ChaincodeEvent(1, "t0", "gxtv3", "UserCreated", b"\xff not json"),))
    (rec,) = block_records(Block(1, (bad,)), "gxchannel", 6)
    assert json.loads(rec.value)["payload"] == {"raw": "\ufffd not json"}
    assert rec.key == b"UserCreated"


def test_marker_round_trip() -> None:
    assert marker_block(marker("gxchannel", 42, 3)) == 42
    assert marker_block(b"junk") is None and marker_block(None) is None
