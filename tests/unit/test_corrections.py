"""Corrections from the block stream, the pure core (streams.corrections): which outbox rows a
committed transaction's event corrects, which it must wait for, and which offsets may be committed
meanwhile (issue 30, defect 4)."""

from __future__ import annotations

import json

from schemas.envelopes import ResultStatus
from streams.corrections import OutboxRow, Sighting, Watch, correction, judge, sighting_of, tx_ids


def s(offset: int = 5, tenant: str | None = "acme", rid: str = "r1", tx: str = "tx-2", partition: int = 0) -> Sighting:
    return Sighting(partition, offset, rid, tx, 40, tenant)


def row(
    status: str = "FAILED", tenant: str = "acme", rid: str = "r1", txs: tuple[str, ...] = ("tx-1", "tx-2"), **kw
) -> OutboxRow:
    return OutboxRow(
        id=f"{tenant}-{rid}", tenant=tenant, request_id=rid, key="wallet-A", status=status, tx_ids=frozenset(txs), **kw
    )


# -- reading the events --------------------------------------------------------------------------


def test_a_sighting_is_read_from_the_records_headers() -> None:
    headers = {"eventName": b"UserCreated", "txId": b"tx-9", "block": b"12", "requestId": b"r1", "tenantId": b"acme"}
    assert sighting_of(3, 77, headers, b"{}") == Sighting(3, 77, "r1", "tx-9", 12, "acme")
    # published before the block publisher named the tenant: matched by the transaction alone
    assert sighting_of(3, 77, {**headers, "tenantId": b""}, b"{}") == Sighting(3, 77, "r1", "tx-9", 12, None)
    assert sighting_of(3, 77, {k: v for k, v in headers.items() if k != "tenantId"}, b"{}") == Sighting(
        3, 77, "r1", "tx-9", 12, None
    )


def test_an_event_without_headers_is_read_from_its_envelope_and_one_naming_no_command_is_none() -> None:
    env = {"txId": "tx-9", "block": 12, "requestId": "r1", "name": "UserCreated"}
    assert sighting_of(0, 1, {}, json.dumps(env).encode()) == Sighting(0, 1, "r1", "tx-9", 12, None)
    assert sighting_of(0, 1, {"requestId": b""}, json.dumps({**env, "requestId": None}).encode()) is None
    assert sighting_of(0, 1, {}, b"not json") is None
    assert sighting_of(0, 1, {"txId": b"t", "block": b"x", "requestId": b"r"}, b"[]") is None


def test_a_rows_transactions_are_its_fabric_tx_id_and_every_attempts() -> None:
    log = [{"attempt": 1, "txId": "tx-1"}, {"attempt": 2, "txId": None}, {"attempt": 3}, {"attempt": 4, "txId": "tx-3"}]
    assert tx_ids("tx-3", log) == frozenset({"tx-1", "tx-3"})
    assert tx_ids(None, None) == frozenset()
    assert tx_ids("tx-1", "not a list") == frozenset({"tx-1"})


# -- judging -------------------------------------------------------------------------------------


def test_a_failed_row_naming_the_committed_transaction_is_corrected() -> None:
    failed = row(error_code="RETRIES_EXHAUSTED", attempts=5)
    j = judge(s(), [failed])
    assert (j.correct, j.unproven, j.wait) == ((failed,), (), False)
    result = correction(failed, s())
    assert result.model_dump(exclude_defaults=True) == {
        "commandId": "acme-r1",
        "requestId": "r1",
        "tenantId": "acme",
        "key": "wallet-A",
        "status": ResultStatus.CONFIRMED,
        "fabricTxId": "tx-2",
        "commitBlock": 40,
        "validationCode": "VALID",
        "attempts": 5,
    }


def test_a_row_not_final_yet_is_waited_for_and_a_final_or_missing_one_settles_the_event() -> None:
    for status in ("PENDING", "LOCKED", "SUBMITTED"):
        assert judge(s(), [row(status)]).wait
    assert judge(s(), [row("CONFIRMED")]) == judge(s(), []) == judge(s(), [row(tenant="other")])
    assert judge(s(), []).settled


def test_a_failed_row_of_the_tenant_and_request_not_naming_the_transaction_is_unproven_never_corrected() -> None:
    """The ledger applied (tenant, request) in a transaction this row never reported: a replay's,
    whose CONFIRMED is on its way (waited for), or one a crashed submitter sent. Never corrected
    from here; an IDEMPOTENCY_CONFLICT is explained (another command holds the ids) and settles."""
    other = row(txs=("tx-7",), error_code="RETRIES_EXHAUSTED")
    j = judge(s(), [other])
    assert (j.correct, j.unproven, j.wait, j.settled) == ((), (other,), True, False)
    conflict = row(txs=("tx-7",), error_code="IDEMPOTENCY_CONFLICT")
    assert judge(s(), [conflict]).settled and judge(s(), [conflict]).unproven == ()


def test_without_the_tenant_only_the_transaction_tells_whose_it_is() -> None:
    """An event published before the tenant header: rows of any tenant with its requestId, and only
    a FAILED one naming the transaction is corrected (another tenant's is not flagged)."""
    mine, theirs = row(tenant="acme"), row(tenant="other", txs=("tx-8",))
    j = judge(s(tenant=None), [mine, theirs])
    assert (j.correct, j.unproven, j.wait) == ((mine,), (), False)
    assert judge(s(tenant=None), [theirs]).settled


# -- what waits and what may be committed ----------------------------------------------------------


def test_offsets_are_committed_up_to_the_first_event_still_waiting_per_partition() -> None:
    w = Watch()
    for o in range(10, 15):
        w.read(0, o)
    w.read(1, 3)
    a, b = s(offset=11, rid="a"), s(offset=13, rid="b")
    w.add(a, now=0.0)
    w.add(b, now=0.5)
    assert w.committable() == {0: 11, 1: 4}
    w.settle(a)
    assert w.committable() == {0: 13, 1: 4}
    w.settle(b)
    assert w.committable() == {0: 15, 1: 4}
    assert len(w) == 0 and w.pending() == []


def test_events_waiting_too_long_are_given_up_oldest_first_and_release_their_offsets() -> None:
    w = Watch()
    for o in range(4):
        w.read(0, o)
    old, young = s(offset=1, rid="old"), s(offset=2, rid="young")
    w.add(old, now=0.0)
    w.add(young, now=50.0)
    assert w.expired(now=99.0, watch_s=100.0) == []
    assert w.expired(now=101.0, watch_s=100.0) == [old]
    assert w.pending() == [young] and w.committable() == {0: 2}


def test_a_revoked_partition_is_forgotten() -> None:
    w = Watch()
    w.read(0, 0)
    w.read(1, 0)
    w.add(s(offset=0, partition=1), now=0.0)
    w.forget([1])
    assert w.committable() == {0: 1} and len(w) == 0
