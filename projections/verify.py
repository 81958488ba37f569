"""`gxctl verify`: the read models against the chaincode's world state, queried through the gateway.

Reads every entity from the ledger (QueryContract List per kind, and the system keys), reads every
read model, and compares (projections.expected). Under load the two sides are read a moment apart,
so differences are re-checked until they are gone or ``settle`` seconds have passed; what remains
is reported. Also checks that each wallet's balance is the net of its TransactionHistory moves.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import psycopg
from psycopg.rows import dict_row

from fabric_gateway import Gateway
from projections.expected import KEYS, Difference, Rows, compare, expected, history_differences

KINDS = ("user", "wallet", "country", "org", "msig", "loan", "proposal", "vote")


async def ledger_state(gw: Gateway, channel: str, chaincode: str) -> dict[str, Any]:
    async def call(fn: str, *args: str) -> Any:
        return json.loads(await gw.evaluate(channel, chaincode, f"QueryContract:{fn}", list(args)))

    state: dict[str, Any] = {}
    for kind in KINDS:
        state[kind] = await call("List", kind)
    for k in ("status", "params", "admins"):
        state[k] = await call("Get", "system", k)
    return state


def read_models(dsn: str) -> tuple[dict[str, Rows], list[Difference]]:
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        have: dict[str, Rows] = {}
        for table, keys in KEYS.items():
            rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()  # noqa: S608 (names are ours)
            have[table] = {tuple(r[k] for k in keys): r for r in rows}
        balances = {r["walletId"]: int(r["balance"]) for r in have["Wallet"].values()}
        net: dict[str, int] = {}
        for r in conn.execute('SELECT w, sum(d) AS n FROM (SELECT "toWalletId" AS w, amount AS d FROM "TransactionHistory"'
                              ' UNION ALL SELECT "fromWalletId", -amount FROM "TransactionHistory"'
                              ' WHERE "fromWalletId" IS NOT NULL) x GROUP BY w').fetchall():
            net[r["w"]] = int(r["n"])
    return have, history_differences(balances, net)


async def verify(dsn: str, gw: Gateway, channel: str, chaincode: str, settle: float = 10.0,
                 interval: float = 0.5) -> list[Difference]:
    """Differences left after up to ``settle`` seconds; [] when the read models match the ledger."""
    deadline = time.monotonic() + settle
    while True:
        state = await ledger_state(gw, channel, chaincode)
        have, history = await asyncio.to_thread(read_models, dsn)
        diffs = compare(expected(state), have) + history
        if not diffs or time.monotonic() >= deadline:
            return diffs
        await asyncio.sleep(interval)
