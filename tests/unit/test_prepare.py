"""Preparing a batch (projections.prepare): skips, dead letters, passed-over events, checkpoints."""

from __future__ import annotations

import json

from projections import ledger, system
from projections.model import Record
from projections.prepare import prepare
from tests.unit.events_factory import envelope, record

USER = {"userId": "U1", "email": "u1@example.com", "firstName": "A", "lastName": "B", "country": "MY"}


def test_records_at_or_below_the_checkpoint_are_skipped_and_the_rest_move_it() -> None:
    recs = [record(i, "UserCreated", {**USER, "userId": f"U{i}"}) for i in range(5)]
    b = prepare(ledger.GROUP, recs, {0: 2})
    assert b.skipped == 3 and b.applied == {"UserCreated": 2}
    assert b.last_offset == {0: 4} and b.position == {0: (4, 0, 0)}
    assert b.after == {0: 2}


def test_unknown_partition_checkpoint_is_marked_unknown() -> None:
    b = prepare(ledger.GROUP, [record(0, "UserCreated", USER, partition=3)], {})
    assert b.after == {3: -2}  # never equal to a stored checkpoint: the commit re-checks


def test_each_kind_of_bad_record_is_dead_lettered_with_its_code_and_the_partition_goes_on() -> None:
    recs = [
        Record("gx.fabric.events", 0, 0, b"not json", b"k"),
        record(1, "Minted", {"x": 1}),
        record(2, "WalletUnfrozen", {"walletId": "W"}, version=3),
        record(3, "TokensTransferred", {"fromWalletId": "A", "toWalletId": "B", "amount": -1}),
        record(4, "WalletUnfrozen", {"walletId": "W"}),
    ]
    b = prepare(ledger.GROUP, recs, {})
    assert [(d.record.offset, d.code) for d in b.dead] == [
        (0, "INVALID_EVENT"),
        (1, "UNKNOWN_EVENT_TYPE"),
        (2, "UNSUPPORTED_SCHEMA_VERSION"),
        (3, "INVALID_EVENT"),
    ]
    assert "amount" in b.dead[3].reason
    assert b.applied == {"WalletUnfrozen": 1} and b.last_offset == {0: 4}


def test_known_events_of_other_groups_are_passed_over_not_dead_lettered() -> None:
    recs = [
        record(0, "VoteCast", {"proposalId": "P", "voterId": "U", "vote": "FOR"}),
        record(1, "SystemPaused", {"reason": "maintenance"}),
    ]
    b = prepare(ledger.GROUP, recs, {})
    assert b.passed_over == 2 and not b.dead and not b.stmts and b.last_offset == {0: 1}
    s = prepare(system.GROUP, recs, {})
    assert s.passed_over == 1 and s.applied == {"SystemPaused": 1}


def test_ledger_fold_collapses_flags_and_keeps_each_move_once() -> None:
    recs = [
        record(0, "WalletFrozen", {"walletId": "W", "reason": "r"}),
        record(1, "WalletUnfrozen", {"walletId": "W"}),
        record(2, "TokensTransferred", {"fromWalletId": "A", "toWalletId": "B", "amount": 3}),
    ]
    b = prepare(ledger.GROUP, recs, {})
    flags = next(s for s in b.stmts if s.sql == ledger.UPSERT_FLAGS)
    assert flags.params[0] == ["W"] and flags.params[2] == [False]  # the newest event wins
    moves = next(s for s in b.stmts if s.sql == ledger.MOVE).params
    assert [c[0] for c in (moves[0], moves[4], moves[5], moves[6], moves[7])] == ["tx2-0:0", "TRANSFER", "A", "B", 3]


def test_system_fold_sets_bootstrap_parameters_and_guards_by_position() -> None:
    env = envelope(
        "SystemBootstrapped",
        {"poolWalletId": "SYSTEM_USER_GENESIS_POOL", "supply": 10, "parameters": {"velocityTaxBps": "100"}},
        3,
        tx_index=1,
    )
    b = prepare(system.GROUP, [Record("t", 0, 0, json.dumps(env).encode())], {})
    keys = {s.params[0]: (json.loads(s.params[1]), s.params[3:]) for s in b.stmts if s.sql == system.SET}
    assert keys == {
        "bootstrapped": (True, (3, 1, 0)),
        "supply": (10, (3, 1, 0)),
        "param.velocityTaxBps": ("100", (3, 1, 0)),
    }
