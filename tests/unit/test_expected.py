"""The ledger's history rows (projections.expected.expected_history) and their comparison."""

from __future__ import annotations

import json

from projections.expected import compare, expected_history
from schemas.events import parse_event
from tests.unit.events_factory import envelope


def _event(name: str, payload: dict, block: int, tx_index: int = 0, event_index: int = 0) -> tuple:
    return parse_event(json.dumps(envelope(name, payload, block, tx_index, event_index)))


EVENTS = [
    _event(
        "GenesisDistributed",
        {"userId": "U1", "countryCode": "MY", "amount": "100", "fromWalletId": "@system:pool:0"},
        3,
    ),
    _event("TokensTransferred", {"fromWalletId": "U1", "toWalletId": "U2", "amount": "7"}, 4),
    _event("VelocityTaxApplied", {"walletId": "U1", "treasuryWalletId": "@treasury:MY", "amount": "1"}, 4, 0, 1),
    _event("WalletFrozen", {"walletId": "U2", "reason": "r"}, 5),
]


def test_every_money_move_is_one_history_row_and_each_distribution_one_genesis_row() -> None:
    want = expected_history(EVENTS)
    assert {
        k: (r["kind"], r["fromWalletId"], r["toWalletId"], r["amount"], r["blockNumber"])
        for k, r in want["TransactionHistory"].items()
    } == {
        ("tx3-0:0",): ("GENESIS", "@system:pool:0", "U1", 100, 3),
        ("tx4-0:0",): ("TRANSFER", "U1", "U2", 7, 4),
        ("tx4-0:1",): ("TAX", "U1", "@treasury:MY", 1, 4),
    }
    assert {k: (r["countryCode"], r["userId"], r["amount"]) for k, r in want["GenesisDistribution"].items()} == {
        ("tx3-0:0",): ("MY", "U1", 100)
    }


def test_a_missing_an_extra_and_a_wrong_history_row_are_each_reported() -> None:
    want = expected_history(EVENTS)
    have = {t: {k: dict(r) for k, r in rows.items()} for t, rows in want.items()}
    del have["TransactionHistory"][("tx4-0:1",)]
    have["TransactionHistory"][("tx4-0:0",)]["amount"] = 8
    have["GenesisDistribution"][("tx9-0:0",)] = {
        "id": "tx9-0:0",
        "countryCode": "MY",
        "userId": "U9",
        "amount": 1,
        "blockNumber": 9,
    }
    lines = sorted(d.line() for d in compare(want, have))
    assert lines == [
        "GenesisDistribution[tx9-0:0]: not on the ledger",
        "TransactionHistory[tx4-0:0].amount: ledger 7, read model 8",
        "TransactionHistory[tx4-0:1]: missing from the read model",
    ]
