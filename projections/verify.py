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
"""

from __future__ import annotations

import asyncio
import json
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
    expected_history,
    history_differences,
)
from schemas.events import PayloadError, parse_event
from streams.block_events import block_out

KINDS = ("user", "wallet", "country", "org", "msig", "loan", "proposal", "vote")


@dataclass
class Report:
    """What was compared, and what differs."""

    differences: list[Difference]
    height: int  # history compared for blocks < height
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows compared (ledger side)

    def summary(self) -> str:
        state = ", ".join(f"{t} {n}" for t, n in self.rows.items() if t not in HISTORY_KEYS)
        hist = ", ".join(f"{t} {self.rows.get(t, 0)}" for t in HISTORY_KEYS)
        return (
            f"compared at the latest world state: {state}; from the events of blocks 0-{self.height - 1}:"
            f" {hist}; and every balance against its history"
        )


# Entities per page of QueryContract:List / ListRequests (the chaincode allows 1 to 1000).
PAGE = 500


async def every_page(gw: Gateway, channel: str, chaincode: str, fn: str, *args: str) -> list[Any]:
    """Every item of a paged QueryContract list (List, ListRequests): page after page until one is
    not partial, so a kind larger than the peer's total query limit is read whole."""
    items: list[Any] = []
    bookmark = ""
    while True:
        page = json.loads(await gw.evaluate(channel, chaincode, f"QueryContract:{fn}", [*args, str(PAGE), bookmark]))
        items += page["items"]
        if not page["partial"]:
            return items
        bookmark = page["bookmark"]


async def ledger_state(gw: Gateway, channel: str, chaincode: str) -> dict[str, Any]:
    async def call(fn: str, *args: str) -> Any:
        return json.loads(await gw.evaluate(channel, chaincode, f"QueryContract:{fn}", list(args)))

    state: dict[str, Any] = {}
    for kind in KINDS:
        state[kind] = await every_page(gw, channel, chaincode, "List", kind)
    for k in ("status", "params", "admins"):
        state[k] = await call("Get", "system", k)
    return state


async def ledger_history(gw: Gateway, channel: str, chaincode: str, height: int) -> dict[str, Rows]:
    """History rows implied by the events of ``chaincode`` in blocks 0 to ``height - 1``."""
    events: list[tuple[Any, Any]] = []
    if height > 0:
        blocks = gw.blocks(channel, 0)
        try:
            async for b in blocks:
                for r in block_out(b, channel, 1, chaincode).records:
                    try:
                        events.append(parse_event(r.value))
                    except PayloadError:
                        pass  # the projections refuse it too, visibly (their dead-letter topic)
                if b.number >= height - 1:
                    break
        finally:
            await blocks.aclose()
    return expected_history(events)


def read_models(dsn: str, height: int) -> tuple[dict[str, Rows], list[Difference]]:
    """Every read model's rows (history only of blocks below ``height``), in one snapshot, and
    the wallets whose balance is not the net of their history."""
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        have: dict[str, Rows] = {}
        for table, keys in KEYS.items():
            rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
            have[table] = {tuple(r[k] for k in keys): r for r in rows}
        for table, keys in HISTORY_KEYS.items():
            rows = conn.execute(f'SELECT * FROM "{table}" WHERE "blockNumber" < %s', (height,)).fetchall()
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


async def verify(
    dsn: str, gw: Gateway, channel: str, chaincode: str, settle: float = 10.0, interval: float = 0.5
) -> Report:
    """What was compared and the differences left after up to ``settle`` seconds (none when the
    read models match the ledger). Raises the gateway's and psycopg's errors."""
    deadline = time.monotonic() + settle
    height = await gw.chain_height(channel)
    history = await ledger_history(gw, channel, chaincode, height)
    while True:
        want = expected(await ledger_state(gw, channel, chaincode)) | history
        have, balances = await asyncio.to_thread(read_models, dsn, height)
        diffs = compare(want, have) + balances
        if not diffs or time.monotonic() >= deadline:
            return Report(diffs, height, {t: len(rows) for t, rows in want.items()})
        await asyncio.sleep(interval)


async def verify_with(dsn: str, fabric: Any, settle: float = 10.0) -> Report:
    """:func:`verify` through a gateway opened from ``fabric`` (gxcommon.fabric_settings.FabricSettings)
    and closed after."""
    gw = fabric.connect()
    try:
        return await verify(dsn, gw, fabric.channel, fabric.chaincode, settle)
    finally:
        await gw.channel.close()
