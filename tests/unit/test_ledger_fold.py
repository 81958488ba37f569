"""The ledger fold is pure: supply is conserved, balances never go negative, bad events are refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections import ledger
from schemas.events import EventEnvelope, GenesisDistributed, TokensTransferred, UserCreated, WalletFrozen

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def env(name: str, i: int) -> EventEnvelope:
    return EventEnvelope(channel="gxchannel", block=i, txId=f"tx{i}", txIndex=0, eventIndex=0, name=name,
                         payload={}, commitTime=NOW, schemaVersion=1, requestId=f"r{i}")


def user(u: str) -> UserCreated:
    return UserCreated(schemaVersion=1, requestId="r", userId=u, email=f"{u}@x.io", firstName="A", lastName="B",
                       country="MY")


def run(events: list) -> tuple[dict[str, ledger.Wallet], list[ledger.History], int]:
    wallets: dict[str, ledger.Wallet] = {}
    history: list[ledger.History] = []
    refused = 0
    for i, p in enumerate(events):
        try:
            upd, hist = ledger.fold(wallets, env(type(p).__name__, i), p)
        except ledger.FoldError:
            refused += 1
            continue
        wallets.update(upd)
        history.extend(hist)
    return wallets, history, refused


transfers = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(1, 300)), max_size=60)


@given(transfers)
def test_supply_is_conserved_and_no_balance_goes_negative(moves: list[tuple[int, int, int]]) -> None:
    users = [f"U{i}" for i in range(5)]
    events: list = [user(u) for u in users]
    events += [GenesisDistributed(schemaVersion=1, requestId="g", userId=u, countryCode="MY", amount=100) for u in users]
    events += [TokensTransferred(schemaVersion=1, requestId="t", fromWalletId=users[a], toWalletId=users[b], amount=n)
               for a, b, n in moves]
    wallets, history, refused = run(events)
    assert sum(w.balance for w in wallets.values()) == 500
    assert all(w.balance >= 0 for w in wallets.values())
    assert len(history) == 5 + len(moves) - refused


def test_an_overdraft_is_refused_with_the_reason() -> None:
    wallets = {"A": ledger.Wallet("A", "A", "USER", 10, False, None, NOW)}
    with pytest.raises(ledger.FoldError, match="would go negative"):
        ledger.fold(wallets, env("TokensTransferred", 1),
                    TokensTransferred(schemaVersion=1, requestId="r", fromWalletId="A", toWalletId="B", amount=11))


def test_freeze_sets_the_flag_and_reason() -> None:
    upd, hist = ledger.fold({}, env("WalletFrozen", 1), WalletFrozen(schemaVersion=1, requestId="r", walletId="A",
                                                                     reason="court order"))
    assert upd["A"].frozen and upd["A"].frozenReason == "court order" and hist == []
