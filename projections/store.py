"""Applying a batch of events to the ledger read models with its checkpoint, in one transaction.

1. The checkpoint rows of the batch's partitions are locked (two consumers overlapping during a
   rebalance serialise here, and the second skips what the first applied).
2. Records at or below a partition's checkpoint are skipped, and so is a balance-changing event
   whose history row already exists (checkpoints rolled back without the data).
3. Events are parsed; unknown types and events that fail their schema or cannot be folded are
   handed to ``on_dead`` (the runner dead-letters them, before the commit) and the partition goes
   on. Events of other projection groups are passed over.
4. The wallets involved are read once, folded in memory in offset order, and written back with one
   statement per table (unnest arrays), with the history rows and the new checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from projections import ledger
from schemas.errors import PayloadError
from schemas.events import parse_event


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes


@dataclass
class BatchResult:
    applied: int = 0
    skipped: int = 0
    passed_over: int = 0
    dead: list[tuple[Record, str, str]] = field(default_factory=list)


def checkpoints(conn: psycopg.Connection[Any], projector: str, topic: str) -> dict[int, int]:
    """partition -> last applied offset, for this projector and topic."""
    rows = conn.execute('SELECT "partition", "offset" FROM "ProjectorState" WHERE "projectorName" = %s AND topic = %s',
                        (projector, topic)).fetchall()
    return {p: o for p, o in rows}


def _lock_checkpoints(conn: psycopg.Connection[Any], projector: str, channel: str, topic: str,
                      partitions: Sequence[int]) -> dict[int, int]:
    conn.execute(
        'INSERT INTO "ProjectorState" ("projectorName", channel, topic, "partition", "offset", "lastBlock",'
        ' "lastEventIndex") SELECT %s, %s, %s, p, -1, -1, -1 FROM unnest(%s::int[]) AS p'
        ' ON CONFLICT DO NOTHING', (projector, channel, topic, list(partitions)))
    rows = conn.execute('SELECT "partition", "offset" FROM "ProjectorState" WHERE "projectorName" = %s'
                        ' AND channel = %s AND topic = %s AND "partition" = ANY(%s) FOR UPDATE',
                        (projector, channel, topic, list(partitions))).fetchall()
    return {p: o for p, o in rows}


def apply_batch(conn: psycopg.Connection[Any], projector: str, channel: str, records: Sequence[Record],
                on_dead: Callable[[list[tuple[Record, str, str]]], None] = lambda dead: None) -> BatchResult:
    """Apply ``records`` (one topic, offset order within each partition) in one transaction."""
    res = BatchResult()
    if not records:
        return res
    topic = records[0].topic
    with conn.transaction():
        stored = _lock_checkpoints(conn, projector, channel, topic, sorted({r.partition for r in records}))
        fresh = [r for r in records if r.offset > stored[r.partition]]
        res.skipped = len(records) - len(fresh)
        parsed = []
        for r in fresh:
            try:
                env, payload = parse_event(r.value)
            except PayloadError as e:
                code = "UNKNOWN_EVENT_TYPE" if e.fields == ["name"] else "INVALID_EVENT"
                res.dead.append((r, code, str(e)))
                continue
            if env.name not in ledger.HANDLES:
                res.passed_over += 1
                continue
            parsed.append((r, env, payload))
        ids = sorted({w for _, _, p in parsed for w in ledger.wallet_ids(p)})
        wallets: dict[str, ledger.Wallet] = {}
        if ids:
            for row in conn.execute('SELECT "walletId", "ownerId", "ownerType", balance, frozen, "frozenReason",'
                                    ' "updatedAt" FROM "Wallet" WHERE "walletId" = ANY(%s)', (ids,)).fetchall():
                wallets[row[0]] = ledger.Wallet(row[0], row[1], row[2], int(row[3]), row[4], row[5], row[6])
        # Balance-changing events leave a history row keyed by txId:eventIndex. One that is already
        # there was applied before (the checkpoints were rolled back without the data): skip it, so a
        # replay can never move a balance twice.
        hist_ids = [f"{env.txId}:{env.eventIndex}" for _, env, p in parsed if isinstance(p, ledger.BALANCE_EVENTS)]
        done = {r[0] for r in conn.execute('SELECT id FROM "TransactionHistory" WHERE id = ANY(%s)',
                                           (hist_ids,)).fetchall()} if hist_ids else set()
        changed: dict[str, ledger.Wallet] = {}
        history: list[ledger.History] = []
        position: dict[int, tuple[int, int]] = {}  # partition -> (block, eventIndex) of the last applied event
        for r, env, payload in parsed:
            if f"{env.txId}:{env.eventIndex}" in done and isinstance(payload, ledger.BALANCE_EVENTS):
                res.skipped += 1
                position[r.partition] = (env.block, env.eventIndex)
                continue
            try:
                upd, hist = ledger.fold(wallets, env, payload)
            except ledger.FoldError as e:
                res.dead.append((r, "FOLD_ERROR", str(e)))
                continue
            wallets.update(upd)
            changed.update(upd)
            history.extend(hist)
            res.applied += 1
            position[r.partition] = (env.block, env.eventIndex)
        _write(conn, changed, history)
        if res.dead:
            on_dead(res.dead)  # before the commit: a dead letter is never lost, at worst sent twice
        # Every fresh record moves its partition's checkpoint (applied, dead-lettered or passed over).
        last_offset: dict[int, int] = {}
        for r in fresh:
            last_offset[r.partition] = max(r.offset, last_offset.get(r.partition, -1))
        for p, off in last_offset.items():
            block, idx = position.get(p, (-1, -1))
            conn.execute('UPDATE "ProjectorState" SET "offset" = %s,'
                         ' "lastBlock" = CASE WHEN %s >= 0 THEN %s ELSE "lastBlock" END,'
                         ' "lastEventIndex" = CASE WHEN %s >= 0 THEN %s ELSE "lastEventIndex" END, "updatedAt" = now()'
                         ' WHERE "projectorName" = %s AND channel = %s AND topic = %s AND "partition" = %s',
                         (off, block, block, block, idx, projector, channel, topic, p))
    return res


def _write(conn: psycopg.Connection[Any], changed: dict[str, ledger.Wallet], history: list[ledger.History]) -> None:
    # %b: arrays go in binary format (psycopg's text array dumping was the slowest step here).
    if changed:
        ws = list(changed.values())
        conn.execute(
            'INSERT INTO "Wallet" ("walletId", "ownerId", "ownerType", balance, frozen, "frozenReason", "updatedAt")'
            ' SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::numeric[], %b::bool[], %b::text[],'
            ' %b::timestamptz[]) ON CONFLICT ("walletId") DO UPDATE SET balance = EXCLUDED.balance,'
            ' frozen = EXCLUDED.frozen, "frozenReason" = EXCLUDED."frozenReason", "updatedAt" = EXCLUDED."updatedAt"',
            ([w.walletId for w in ws], [w.ownerId for w in ws], [w.ownerType for w in ws], [w.balance for w in ws],
             [w.frozen for w in ws], [w.frozenReason for w in ws], [w.updatedAt for w in ws]))
    if history:
        conn.execute(
            'INSERT INTO "TransactionHistory" (id, "txId", "blockNumber", kind, "fromWalletId", "toWalletId", amount,'
            ' "requestId", "committedAt") SELECT * FROM unnest(%b::text[], %b::text[], %b::bigint[], %b::text[],'
            ' %b::text[], %b::text[], %b::numeric[], %b::text[], %b::timestamptz[]) ON CONFLICT (id) DO NOTHING',
            ([h.id for h in history], [h.txId for h in history], [h.blockNumber for h in history],
             [h.kind for h in history], [h.fromWalletId for h in history], [h.toWalletId for h in history],
             [h.amount for h in history], [h.requestId for h in history], [h.committedAt for h in history]))

