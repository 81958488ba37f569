"""`gxctl verify`: every read model against the ledger, queried through the gateway.

- Ten tables (users, applications, wallets, countries, organisations, multisig transactions, loans,
  proposals, votes, system settings) against the chaincode's world state (QueryContract List per
  kind, page by page, and the system keys). The world state can only be read at the peer's latest height, so
  under load the two sides are read a moment apart: differences are re-checked until they are gone
  or ``settle`` seconds have passed, and what remains is reported.
- TransactionHistory and GenesisDistribution, which the world state does not keep, against the
  events of the ledger's blocks, at one height: every block up to the last one committed when
  the check starts (``height - 1``) is read through Deliver and decoded as the block publisher
  decodes it; the read models' rows of those blocks are compared row by row. Rows of blocks past
  that height are left out, so under load this check settles as soon as the projections have
  passed the height.
- Each wallet's balance is the net of its TransactionHistory moves.

The ledger's values are compared as the read models can store them (projections.storable: NUL as
U+FFFD); a ledger row the read models cannot hold at all (an indexed value too long for an index
entry) is reported apart (``Report.unrepresentable``), not as a difference. A List the peer cut
short (its ``totalQueryLimit``) is completed by looking up the read models' other rows by key, and
the history is compared a window of blocks at a time, never every event of the chain in memory.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row

from fabric_gateway import Gateway
from projections.expected import (
    HISTORY_KEYS,
    KEYS,
    Difference,
    Rows,
    compare,
    expected,
    history_differences,
)
from projections.ledger_reads import HISTORY_WINDOW, history_windows, ledger_state


@dataclass
class Report:
    """What was compared, and what differs."""

    differences: list[Difference]
    height: int  # history compared for blocks < height
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows compared (ledger side)
    # Rows the read models cannot hold (projections.storable.holdable): reported apart, not drift.
    unrepresentable: list[Difference] = field(default_factory=list)

    def summary(self) -> str:
        state = ", ".join(f"{t} {n}" for t, n in self.rows.items() if t not in HISTORY_KEYS)
        hist = ", ".join(f"{t} {self.rows.get(t, 0)}" for t in HISTORY_KEYS)
        out = (
            f"compared at the latest world state: {state}; from the events of blocks 0-{self.height - 1}:"
            f" {hist}; and every balance against its history"
        )
        if self.unrepresentable:
            out += (
                f". {len(self.unrepresentable)} ledger row(s) the read models cannot hold (an indexed value"
                " over 2,600 bytes; their events are dead-lettered), not counted as differences"
            )
        return out


def read_models(dsn: str, height: int) -> tuple[dict[str, Rows], list[Difference]]:
    """Every world-state read model's rows, in one snapshot, and the wallets whose balance is not
    the net of their history."""
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        have: dict[str, Rows] = {}
        for table, keys in KEYS.items():
            rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
            have[table] = {tuple(r[k] for k in keys): r for r in rows}
        balances = {r["walletId"]: int(r["balance"]) for r in have["Wallet"].values()}
        net: dict[str, int] = {}
        for r in conn.execute(
            'SELECT w, sum(d) AS n FROM (SELECT "toWalletId" AS w, amount AS d FROM "TransactionHistory"'
            ' UNION ALL SELECT "fromWalletId", -amount FROM "TransactionHistory"'
            ' WHERE "fromWalletId" IS NOT NULL) x GROUP BY w'
        ).fetchall():
            net[r["w"]] = int(r["n"])
    return have, history_differences(balances, net)


def read_history(dsn: str, lo: int, hi: int) -> dict[str, Rows]:
    """The history read models' rows of blocks [lo, hi)."""
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        out: dict[str, Rows] = {}
        for table, keys in HISTORY_KEYS.items():
            rows = conn.execute(
                f'SELECT * FROM "{table}" WHERE "blockNumber" >= %s AND "blockNumber" < %s', (lo, hi)
            ).fetchall()
            out[table] = {tuple(r[k] for k in keys): r for r in rows}
    return out


async def verify(
    dsn: str,
    gw: Gateway,
    channel: str,
    chaincode: str,
    settle: float = 10.0,
    interval: float = 0.5,
    window: int = HISTORY_WINDOW,
) -> Report:
    """What was compared and the differences left after up to ``settle`` seconds (none when the
    read models match the ledger). The history is compared ``window`` blocks at a time; only the
    windows that differ are kept, to be compared again while the read models settle. Raises the
    gateway's and psycopg's errors."""
    deadline = time.monotonic() + settle
    height = await gw.chain_height(channel)
    counts = dict.fromkeys(HISTORY_KEYS, 0)
    differing: list[tuple[int, int, dict[str, Rows]]] = []
    async for lo, hi, rows in history_windows(gw, channel, chaincode, height, window):
        for t, r in rows.items():
            counts[t] += len(r)
        if compare(rows, await asyncio.to_thread(read_history, dsn, lo, hi)):
            differing.append((lo, hi, rows))
    while True:
        want = expected(await ledger_state(gw, channel, chaincode))
        have, balances = await asyncio.to_thread(read_models, dsn, height)
        diffs = compare(want, have) + balances
        still = []
        for lo, hi, rows in differing:
            d = compare(rows, await asyncio.to_thread(read_history, dsn, lo, hi))
            if d:
                still.append((lo, hi, rows))
                diffs += d
        differing = still
        drift = [d for d in diffs if d.representable]
        if not drift or time.monotonic() >= deadline:
            return Report(
                drift,
                height,
                {t: len(rows) for t, rows in want.items()} | counts,
                [d for d in diffs if not d.representable],
            )
        await asyncio.sleep(interval)


async def verify_with(dsn: str, fabric: Any, settle: float = 10.0) -> Report:
    """:func:`verify` through a gateway opened from ``fabric`` (gxcommon.fabric_settings.FabricSettings)
    and closed after."""
    gw = fabric.connect()
    try:
        return await verify(dsn, gw, fabric.channel, fabric.chaincode, settle)
    finally:
        await gw.close()
