"""The ledger group's fold: Wallet and TransactionHistory. Pure (events in, statements out).

Order-independent across partitions, idempotent by construction:
- a wallet's owner comes from its creating event, its frozen flag from its own (same key) events,
  and each column is written only by those: upserts that touch their own columns; the flag is set
  only by an event newer than the one that last set it (the row's ledger position), so a freeze
  replayed out of order never undoes a later unfreeze;
- a balance moves only through a TransactionHistory row (id txId:eventIndex) inserted in the same
  statement: ON CONFLICT DO NOTHING RETURNING yields only the new moves, and their summed deltas are
  added. A replayed move finds its row and moves nothing; deltas commute, so a credit folded before
  the receiver's other events changes nothing in the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from projections.model import EXCLUDED_NEWER, EXCLUDED_POSITION, POSITION, Event, GroupSpec, Stmt
from schemas.events import (
    GenesisDistributed,
    LoanApproved,
    MultiSigTxExecuted,
    OrganizationActivated,
    SystemBootstrapped,
    TokensTransferred,
    TreasuryActivated,
    UserCreated,
    VelocityTaxApplied,
    WalletFrozen,
    WalletUnfrozen,
)

UPSERT_OWNERS = (
    'INSERT INTO {Wallet} AS t ("walletId", "ownerId", "ownerType", "updatedAt")'
    " SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::timestamptz[])"
    ' ON CONFLICT ("walletId") DO UPDATE SET "ownerId" = EXCLUDED."ownerId", "ownerType" = EXCLUDED."ownerType",'
    ' "updatedAt" = GREATEST(t."updatedAt", EXCLUDED."updatedAt")'
)
UPSERT_FLAGS = (
    'INSERT INTO {Wallet} AS t ("walletId", "ownerId", frozen, "frozenReason", "updatedAt", ' + POSITION + ")"
    " SELECT * FROM unnest(%b::text[], %b::text[], %b::bool[], %b::text[], %b::timestamptz[], %b::bigint[], %b::int[],"
    ' %b::int[]) ON CONFLICT ("walletId") DO UPDATE SET frozen = EXCLUDED.frozen,'
    ' "frozenReason" = EXCLUDED."frozenReason", "updatedAt" = GREATEST(t."updatedAt", EXCLUDED."updatedAt"), '
    + EXCLUDED_POSITION
    + " WHERE "
    + EXCLUDED_NEWER
)
# One statement per batch: the moves as arrays (binary), the history rows that are new, and their
# summed deltas into the wallets. (COPY into a staging table was measured no faster here, and the
# batch is sent in pipeline mode, where COPY is not allowed.)
MOVE = (
    "WITH m AS (SELECT * FROM unnest(%b::text[], %b::text[], %b::bigint[], %b::int[], %b::text[], %b::text[],"
    " %b::text[], %b::numeric[], %b::text[], %b::timestamptz[])),"
    ' ins AS (INSERT INTO {TransactionHistory} (id, "txId", "blockNumber", "txIndex", kind, "fromWalletId",'
    ' "toWalletId", amount, "requestId", "committedAt") SELECT * FROM m ON CONFLICT (id) DO NOTHING'
    ' RETURNING "fromWalletId", "toWalletId", amount, "committedAt"),'
    " d AS (SELECT w, sum(delta) AS delta, max(at) AS at FROM ("
    '   SELECT "fromWalletId" AS w, -amount AS delta, "committedAt" AS at FROM ins WHERE "fromWalletId" IS NOT NULL'
    '   UNION ALL SELECT "toWalletId", amount, "committedAt" FROM ins) x GROUP BY w)'
    ' INSERT INTO {Wallet} AS t ("walletId", "ownerId", balance, "updatedAt") SELECT w, w, delta, at FROM d'
    ' ON CONFLICT ("walletId") DO UPDATE SET balance = t.balance + EXCLUDED.balance,'
    ' "updatedAt" = GREATEST(t."updatedAt", EXCLUDED."updatedAt")'
)


def _move(e: Event, kind: str, src: str | None, dst: str, amount: int) -> tuple:
    env = e.env
    return (env.event_id, env.txId, env.block, env.txIndex, kind, src, dst, amount, e.payload.requestId, env.commitTime)


def fold(events: Sequence[Event]) -> list[Stmt]:
    """Statements for a batch: wallet owners, frozen flags (the newest event per wallet wins, by
    ledger position), and balance moves with their history rows."""
    owners: dict[str, tuple[str, str, datetime]] = {}
    flags: dict[str, tuple[bool, str | None, Event]] = {}
    moves: dict[str, tuple] = {}
    for e in events:
        at = e.env.commitTime
        match e.payload:
            case SystemBootstrapped(poolWalletId=pool, supply=n):
                owners[pool] = ("SYSTEM", "SYSTEM", at)
                moves.setdefault(e.env.event_id, _move(e, "SUPPLY", None, pool, n))
            case UserCreated(userId=u):
                owners[u] = (u, "USER", at)
            case TreasuryActivated(countryCode=c, treasuryWalletId=w):
                owners[w] = (c, "TREASURY", at)
            case OrganizationActivated(orgId=o, walletId=w):
                owners[w] = (o, "ORGANIZATION", at)
            case GenesisDistributed(userId=u, amount=n, fromWalletId=pool):
                moves.setdefault(e.env.event_id, _move(e, "GENESIS", pool, u, n))
            case TokensTransferred(fromWalletId=a, toWalletId=b, amount=n):
                moves.setdefault(e.env.event_id, _move(e, "TRANSFER", a, b, n))
            case MultiSigTxExecuted(fromWalletId=a, toWalletId=b, amount=n):
                moves.setdefault(e.env.event_id, _move(e, "MULTISIG", a, b, n))
            case LoanApproved(fromWalletId=a, borrowerId=b, amount=n):
                moves.setdefault(e.env.event_id, _move(e, "LOAN", a, b, n))
            case VelocityTaxApplied(walletId=a, treasuryWalletId=b, amount=n):
                moves.setdefault(e.env.event_id, _move(e, "TAX", a, b, n))
            case WalletFrozen(walletId=w, reason=r):
                if w not in flags or flags[w][2].position < e.position:
                    flags[w] = (True, r, e)
            case WalletUnfrozen(walletId=w):
                if w not in flags or flags[w][2].position < e.position:
                    flags[w] = (False, None, e)
    out = []
    if owners:
        ids = list(owners)
        out.append(
            Stmt(
                UPSERT_OWNERS,
                (ids, [owners[w][0] for w in ids], [owners[w][1] for w in ids], [owners[w][2] for w in ids]),
            )
        )
    if flags:
        ids = list(flags)
        es = [flags[w][2].env for w in ids]
        out.append(
            Stmt(
                UPSERT_FLAGS,
                (
                    ids,
                    ids,
                    [flags[w][0] for w in ids],
                    [flags[w][1] for w in ids],
                    [e.commitTime for e in es],
                    [e.block for e in es],
                    [e.txIndex for e in es],
                    [e.eventIndex for e in es],
                ),
            )
        )
    if moves:
        out.append(Stmt(MOVE, tuple(list(c) for c in zip(*moves.values()))))
    return out


GROUP = GroupSpec(
    "ledger",
    ("Wallet", "TransactionHistory"),
    frozenset(
        {
            "SystemBootstrapped",
            "UserCreated",
            "TreasuryActivated",
            "OrganizationActivated",
            "GenesisDistributed",
            "TokensTransferred",
            "MultiSigTxExecuted",
            "LoanApproved",
            "VelocityTaxApplied",
            "WalletFrozen",
            "WalletUnfrozen",
        }
    ),
    fold,
)
