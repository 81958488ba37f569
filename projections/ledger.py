"""The ledger group's fold: Wallet and TransactionHistory. Pure (no I/O).

A fold takes the current wallet rows it needs and one event, and returns the changed rows and the
history entries the event adds. Balances never go negative here either: an event that would make
one negative means the read model and the ledger disagree, and is reported as a FoldError (the
runner dead-letters it) rather than silently applied.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from schemas.events import (
    EventEnvelope,
    EventPayload,
    GenesisDistributed,
    TokensTransferred,
    UserCreated,
    VelocityTaxApplied,
    WalletFrozen,
    WalletUnfrozen,
)

GENESIS_POOL = "SYSTEM_USER_GENESIS_POOL"
HANDLES = {"UserCreated", "GenesisDistributed", "TokensTransferred", "WalletFrozen", "WalletUnfrozen",
           "VelocityTaxApplied"}
# Events that move balances; each leaves exactly one history row (txId:eventIndex).
BALANCE_EVENTS = (GenesisDistributed, TokensTransferred, VelocityTaxApplied)


class FoldError(Exception):
    """The event cannot be applied to the read model as it stands; the message says why."""


@dataclass(frozen=True, slots=True)
class Wallet:
    walletId: str
    ownerId: str
    ownerType: str
    balance: int
    frozen: bool
    frozenReason: str | None
    updatedAt: datetime


@dataclass(frozen=True, slots=True)
class History:
    id: str
    txId: str
    blockNumber: int
    kind: str
    fromWalletId: str | None
    toWalletId: str | None
    amount: int
    requestId: str | None
    committedAt: datetime


def wallet_ids(payload: EventPayload) -> list[str]:
    """The wallets an event touches (to load them before folding a batch)."""
    match payload:
        case UserCreated(userId=u):
            return [u]
        case GenesisDistributed(userId=u):
            return [u]
        case TokensTransferred(fromWalletId=a, toWalletId=b):
            return [a, b]
        case WalletFrozen(walletId=w) | WalletUnfrozen(walletId=w):
            return [w]
        case VelocityTaxApplied(walletId=w, treasuryWalletId=t):
            return [w, t]
    return []


def _with_balance(w: Wallet, balance: int, at: datetime) -> Wallet:
    # A plain constructor call: dataclasses.replace was a third of the fold's time.
    return Wallet(w.walletId, w.ownerId, w.ownerType, balance, w.frozen, w.frozenReason, at)


def _credit(current: Wallet | None, wid: str, amount: int, at: datetime, owner_type: str = "USER") -> Wallet:
    if current is None:
        return Wallet(wid, wid, owner_type, amount, False, None, at)
    return _with_balance(current, current.balance + amount, at)


def _debit(wallets: dict[str, Wallet], wid: str, amount: int, at: datetime) -> Wallet:
    w = wallets.get(wid)
    if w is None:
        raise FoldError(f"wallet {wid} does not exist in the read model")
    if w.balance < amount:
        raise FoldError(f"wallet {wid} would go negative ({w.balance} - {amount})")
    return _with_balance(w, w.balance - amount, at)


def fold(wallets: dict[str, Wallet], env: EventEnvelope, payload: EventPayload) -> tuple[dict[str, Wallet], list[History]]:
    """Changed wallets (by id) and new history entries for one event. Raises FoldError."""
    at = env.commitTime
    hid = f"{env.txId}:{env.eventIndex}"

    def history(kind: str, src: str | None, dst: str | None, amount: int) -> History:
        return History(hid, env.txId, env.block, kind, src, dst, amount, payload.requestId, at)

    match payload:
        case UserCreated(userId=u):
            if u in wallets:
                return {}, []
            return {u: Wallet(u, u, "USER", 0, False, None, at)}, []
        case GenesisDistributed(userId=u, amount=n):
            return {u: _credit(wallets.get(u), u, n, at)}, [history("GENESIS", GENESIS_POOL, u, n)]
        case TokensTransferred(fromWalletId=a, toWalletId=b, amount=n):
            src = _debit(wallets, a, n, at)
            if a == b:
                return {a: _with_balance(src, src.balance + n, at)}, [history("TRANSFER", a, b, n)]
            return {a: src, b: _credit(wallets.get(b), b, n, at)}, [history("TRANSFER", a, b, n)]
        case WalletFrozen(walletId=w, reason=r):
            cur = wallets.get(w) or Wallet(w, w, "USER", 0, False, None, at)
            return {w: replace(cur, frozen=True, frozenReason=r, updatedAt=at)}, []
        case WalletUnfrozen(walletId=w):
            cur = wallets.get(w) or Wallet(w, w, "USER", 0, False, None, at)
            return {w: replace(cur, frozen=False, frozenReason=None, updatedAt=at)}, []
        case VelocityTaxApplied(walletId=w, treasuryWalletId=t, amount=n):
            src = _debit(wallets, w, n, at)
            if w == t:
                return {w: _with_balance(src, src.balance + n, at)}, [history("TAX", w, t, n)]
            return {w: src, t: _credit(wallets.get(t), t, n, at, owner_type="TREASURY")}, [history("TAX", w, t, n)]
    return {}, []
