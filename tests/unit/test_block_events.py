"""The block publisher's pure core: which records a block becomes (streams.block_events)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fabric_gateway.blocks import Block, BlockTransaction, ChaincodeEvent
from schemas.events import parse_event, partition_for
from streams.block_events import block_records, marker, marker_block

TS = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def tx(index: int, code: str, *events: tuple[str, dict], args: tuple[bytes, ...] = ()) -> BlockTransaction:
    return BlockTransaction(
        index,
        f"t{index}",
        "ENDORSER_TRANSACTION",
        code,
        TS,
        tuple(ChaincodeEvent(7, f"t{index}", "gxtv3", name, json.dumps(p).encode()) for name, p in events),
        args=args,
    )


def test_valid_transactions_publish_keyed_records_and_invalid_ones_nothing() -> None:
    moved = {"schemaVersion": 1, "requestId": "r1", "fromWalletId": "A", "toWalletId": "B", "amount": 5, "memo": ""}
    block = Block(
        7,
        (
            tx(0, "VALID", ("TokensTransferred", moved)),
            tx(1, "MVCC_READ_CONFLICT", ("TokensTransferred", {**moved, "requestId": "r2"})),
            tx(2, "VALID", ("WalletFrozen", {"schemaVersion": 1, "requestId": "r3", "walletId": "B", "reason": "kyc"})),
        ),
    )
    out = block_records(block, "gxchannel", 6)
    assert [r.key for r in out] == [b"A", b"B"]
    assert [r.partition for r in out] == [partition_for("A", 6), partition_for("B", 6)]
    env, payload = parse_event(out[0].value)
    assert (env.block, env.txId, env.txIndex, env.eventIndex, env.requestId) == (7, "t0", 0, 0, "r1")
    assert env.commitTime == TS and payload.amount == 5  # type: ignore[attr-defined]
    assert parse_event(out[1].value)[0].txIndex == 2
    assert dict(out[0].headers)["requestId"] == b"r1"


def test_a_payload_that_is_not_json_is_still_published_for_the_dead_letter_topic() -> None:
    bad = BlockTransaction(
        0,
        "t0",
        "ENDORSER_TRANSACTION",
        "VALID",
        TS,
        (ChaincodeEvent(1, "t0", "gxtv3", "UserCreated", b"\xff not json"),),
    )
    (rec,) = block_records(Block(1, (bad,)), "gxchannel", 6)
    assert json.loads(rec.value)["payload"] == {"raw": "\ufffd not json"}
    assert rec.key == b"UserCreated"


def test_marker_round_trip() -> None:
    assert marker_block(marker("gxchannel", 42, 3)) == 42
    assert marker_block(b"junk") is None and marker_block(None) is None


def test_what_cannot_be_published_is_dead_lettered_with_its_block_and_the_rest_goes_out() -> None:
    """Issue 22: an undecodable VALID transaction, or an event over the record size, raised on every
    retry and halted the publisher; now each becomes a dead letter naming its block and transaction."""
    from streams.block_events import block_out

    ok = {"schemaVersion": 2, "requestId": "r1", "walletId": "B", "reason": "kyc"}
    big = {
        "schemaVersion": 2,
        "requestId": "r2",
        "fromWalletId": "A",
        "toWalletId": "B",
        "amount": "5",
        "memo": "x" * 2000,
    }
    broken = BlockTransaction(1, "t1", "UNKNOWN", "VALID", TS, (), "DecodeError: truncated", 17)
    invalid_broken = BlockTransaction(3, "", "UNKNOWN", "MVCC_READ_CONFLICT", TS, (), "DecodeError: x", 5)
    block = Block(
        9,
        (
            tx(0, "VALID", ("WalletFrozen", ok)),
            broken,
            tx(2, "VALID", ("TokensTransferred", big)),
            invalid_broken,
            tx(4, "VALID", ("WalletFrozen", {**ok, "requestId": "r5"})),
        ),
    )
    out = block_out(block, "gxchannel", 6, "gxtv3", max_bytes=1000)
    assert [parse_event(r.value)[0].requestId for r in out.records] == ["r1", "r5"]
    assert [code for code, _ in out.dead] == ["UNDECODABLE_TRANSACTION", "EVENT_TOO_LARGE"]
    first, second = (json.loads(r.value) for _, r in out.dead)
    assert (first["block"], first["txIndex"], first["txId"]) == (9, 1, "t1") and "DecodeError" in first["reason"]
    assert (second["block"], second["txId"], second["name"]) == (9, "t2", "TokensTransferred") and second[
        "bytes"
    ] > 1000
    assert dict(out.dead[1][1].headers)["errorCode"] == b"EVENT_TOO_LARGE"


def test_only_the_configured_chaincodes_events_are_published() -> None:
    from streams.block_events import block_out

    mine = ChaincodeEvent(7, "t0", "gxtv3", "WalletUnfrozen", b'{"schemaVersion":2,"requestId":"a","walletId":"W"}')
    other = ChaincodeEvent(7, "t1", "othercc", "WalletUnfrozen", b'{"schemaVersion":2,"requestId":"b","walletId":"W"}')
    block = Block(
        7,
        (
            BlockTransaction(0, "t0", "ENDORSER_TRANSACTION", "VALID", TS, (mine,)),
            BlockTransaction(1, "t1", "ENDORSER_TRANSACTION", "VALID", TS, (other,)),
        ),
    )
    out = block_out(block, "gxchannel", 6, "gxtv3")
    assert [parse_event(r.value)[0].requestId for r in out.records] == ["a"] and out.skipped_foreign == 1


def test_a_block_must_continue_the_chain_published() -> None:
    """Issue 22: after a restart the publisher checks the next block's number and predecessor."""
    from streams.block_events import continues, marker_of

    h5 = b"\x05" * 32
    assert marker_of(marker("gxchannel", 5, 2, h5)) == (5, h5)
    assert marker_of(b'{"block": 4}') == (4, b"")  # a marker written before hashes were kept
    assert continues((5, h5), Block(6, (), b"\x06" * 32, h5)) is None
    assert "does not follow the last published block 5" in (continues((5, h5), Block(7, (), b"", h5)) or "")
    assert "is not the one published" in (continues((5, h5), Block(6, (), b"", b"\x09" * 32)) or "")
    assert continues((4, b""), Block(5, (), b"", b"\x01" * 32)) is None
    assert continues(None, Block(0, ())) is None and "not 0" in (continues(None, Block(3, ())) or "")


def test_fencing_is_recognised_in_the_fatal_error_produce_raises() -> None:
    from confluent_kafka import KafkaError

    from streams.block_publisher import fenced

    assert fenced(KafkaError(KafkaError.PRODUCER_FENCED))
    assert fenced(KafkaError(KafkaError._FATAL, "Producer fenced by newer instance: transactional id epoch 3"))
    assert not fenced(KafkaError(KafkaError._FATAL, "Broker: Message size too large"))
    assert not fenced(KafkaError(KafkaError._TRANSPORT))


def test_each_record_names_the_tenant_the_chaincode_keyed_its_command_by() -> None:
    """Issue 30, defect 4: the event payload carries the requestId but not the tenant; the
    transaction's invocation (function, tenantId, requestId, ...) does. The header is set only when
    the invocation's requestId is the event's, and is empty otherwise."""
    user = {"schemaVersion": 2, "requestId": "r1", "userId": "u", "email": "e", "firstName": "f", "lastName": "l"}
    call = (b"IdentityContract:CreateUser", b"acme", b"r1", b"u")
    block = Block(
        3,
        (
            tx(0, "VALID", ("UserCreated", {**user, "country": "MY"}), args=call),
            tx(1, "VALID", ("UserCreated", {**user, "requestId": "r2", "country": "MY"}), args=call),
            tx(2, "VALID", ("UserCreated", {**user, "country": "MY"})),
            tx(3, "VALID", ("UserCreated", {**user, "country": "MY"}), args=(b"F", b"\xff", b"r1")),
        ),
    )
    out = block_records(block, "gxchannel", 6)
    assert [dict(r.headers)["tenantId"] for r in out] == [b"acme", b"", b"", b""]
    assert [(dict(r.headers)["txId"], dict(r.headers)["block"]) for r in out] == [
        (f"t{i}".encode(), b"3") for i in range(4)
    ]
