"""`gxctl projections repair`: re-derive from the ledger every read-model row that differs from it,
while the projectors run. The repair for every kind of dead letter (docs/read-path-dead-letters.md):
whatever was lost (an event dead-lettered by a group, replayed out of order, or never published at
all) and whatever later events made of the row, the ledger's word is written.

1. The history: the events of every block below the peer's height are read (Deliver, a window of
   blocks at a time, as verify reads them); the TransactionHistory and GenesisDistribution rows the
   read models lack are inserted by the folds' own statements, their balance and genesis deltas
   with them. Idempotent and order-free: no lock, and a projector folding the same event meanwhile
   changes nothing.
2. The world state: every entity (QueryContract, as verify reads it) against the read models; the
   rows that are missing or differ are rewritten (projections.repair_plan) group by group, each
   group in one transaction that holds the group's checkpoint locks (its projector's next batch
   waits; ``LOCK_TIMEOUT``, retried): inside it, the entities are read again from the ledger
   (one by one), so what is written is at least as new as anything the projector has folded, and
   each row's position moves up to the group's newest applied position.

Left alone, and reported: rows the read models cannot hold (projections.storable), rows that are
not on the ledger, history rows that differ. The result says what was written.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from fabric_gateway import Gateway
from gxcommon.logs import get
from projections import repair_plan, store, verify
from projections.errors import ProjectionError
from projections.expected import compare, expected
from projections.groups import GROUPS
from projections.ledger_reads import entities, history_windows, kind_of, ledger_state, of_kind, system

log = get("gx.repair")
LOCK_TIMEOUT = "2s"
ATTEMPTS = 10


class RepairError(ProjectionError):
    """A repair could not finish (what it wrote so far stays: each step is whole and idempotent)."""


@dataclass
class RepairReport:
    height: int  # the ledger's height it compared with
    written: dict[str, int] = field(default_factory=dict)  # table -> rows rewritten from the ledger
    history: dict[str, int] = field(default_factory=dict)  # table -> history rows inserted
    unrepresentable: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # differences left for an operator

    def summary(self) -> str:
        done = {**self.history, **self.written}
        text = f"repaired from the ledger at height {self.height}: " + (
            ", ".join(f"{t} {n}" for t, n in sorted(done.items())) or "nothing differed"
        )
        if self.unrepresentable:
            text += f"; {len(self.unrepresentable)} row(s) the read models cannot hold, left out"
        if self.left:
            text += (
                f"; {len(self.left)} difference(s) left for an operator (not on the ledger, or history that differs)"
            )
        return text


# The tables the history statements write ({Table} placeholders of ledger.MOVE and system.GENESIS).
HISTORY_TABLES = {t: f'"{t}"' for t in ("TransactionHistory", "Wallet", "GenesisDistribution", "LegalTenderStatus")}


def _write_history(dsn: str, missing: dict[str, list[dict[str, Any]]]) -> None:
    with psycopg.connect(dsn) as conn, conn.transaction():
        store.write(conn, repair_plan.history(missing), HISTORY_TABLES)


async def _history(dsn: str, gw: Gateway, channel: str, chaincode: str, height: int, report: RepairReport) -> None:
    async for lo, hi, want in history_windows(gw, channel, chaincode, height):
        todo = repair_plan.plan(compare(want, await asyncio.to_thread(verify.read_history, dsn, lo, hi)))
        report.unrepresentable += [d.line() for d in todo.unrepresentable]
        report.left += [d.line() for d in todo.left]
        if todo.history:
            await asyncio.to_thread(_write_history, dsn, todo.history)
            for t, rows in todo.history.items():
                report.history[t] = report.history.get(t, 0) + len(rows)


async def _fresh(
    gw: Gateway, channel: str, chaincode: str, tables: dict[str, set[tuple[Any, ...]]]
) -> dict[str, list[dict[str, Any]]]:
    """The ledger's rows now, as projections.expected gives them, for the keys of ``tables`` and
    their companions (a proposal's votes)."""
    state: dict[str, Any] = await system(gw, channel, chaincode)  # admins (User), and SystemConfig
    for table, keys in tables.items():
        if table != "SystemConfig":
            have = state.setdefault(kind_of(table), [])
            have += [e for e in await entities(gw, channel, chaincode, table, keys) if e not in have]
    proposals = {k[0] for k in tables.get("Proposal", set())}
    if proposals:
        state["vote"] = [v for v in await of_kind(gw, channel, chaincode, "vote") if v.get("proposalId") in proposals]
    want = expected(state)
    out = {
        table: [r for k, r in want.get(table, {}).items() if table == "SystemConfig" or k in keys]
        for table, keys in tables.items()
    }
    for companion in {c for t in tables for c in repair_plan.companions(t)}:
        out[companion] = list(want.get(companion, {}).values())
    return out


async def _rewrite_group(
    dsn: str,
    gw: Gateway,
    channel: str,
    chaincode: str,
    topic: str,
    partitions: int,
    group: str,
    tables: dict[str, set[tuple[Any, ...]]],
) -> dict[str, int]:
    """Rewrite ``tables``' keys from the ledger in one transaction holding ``group``'s checkpoints."""
    for attempt in range(1, ATTEMPTS + 1):
        conn: psycopg.Connection[Any] = await asyncio.to_thread(lambda: psycopg.connect(dsn))
        try:
            with conn.transaction():
                conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                # Rows to lock even for partitions the group has not written yet (as store.send does).
                conn.execute(
                    'INSERT INTO "ProjectorState" ("projectorName", channel, topic, "partition", "offset",'
                    ' "lastBlock", "lastEventIndex") SELECT %s, %s, %s, p, -1, -1, -1'
                    " FROM generate_series(0, %s - 1) AS p ON CONFLICT DO NOTHING",
                    (group, channel, topic, partitions),
                )
                held = conn.execute(
                    'SELECT "lastBlock", "lastTxIndex", "lastEventIndex" FROM "ProjectorState"'
                    ' WHERE "projectorName" = %s AND topic = %s ORDER BY "partition" FOR UPDATE',
                    (group, topic),
                ).fetchall()
                position: tuple[int, int, int] = max(((r[0], r[1], r[2]) for r in held), default=(-1, -1, -1))
                # The projector cannot move on now: what the ledger says is at least as new as what it folded.
                rows = await _fresh(gw, channel, chaincode, tables)
                now = datetime.now(UTC)
                stmts = [s for t, rs in rows.items() for s in repair_plan.rewrite(t, rs, position, now)]
                store.write(conn, stmts, store.table_names(GROUPS[group]))
            return {t: len(rs) for t, rs in rows.items() if rs}
        except psycopg.errors.LockNotAvailable:
            log.warning("the group's checkpoints are busy, trying again", group=group, attempt=attempt)
        finally:
            conn.close()
    raise RepairError(f"could not lock the {group} group's checkpoints after {ATTEMPTS} attempts")


async def repair(dsn: str, gw: Gateway, channel: str, chaincode: str, topic: str, partitions: int) -> RepairReport:
    """Repair every read model from the ledger (see the module's doc). Raises RepairError, and the
    gateway's and psycopg's errors."""
    height = await gw.chain_height(channel)
    report = RepairReport(height)
    await _history(dsn, gw, channel, chaincode, height, report)
    want = expected(await ledger_state(gw, channel, chaincode))
    have, _ = await asyncio.to_thread(verify.read_models, dsn, height)
    todo = repair_plan.plan(compare(want, have))
    report.unrepresentable += [d.line() for d in todo.unrepresentable]
    report.left += [d.line() for d in todo.left]
    for group, tables in sorted(todo.rows.items()):
        for table, n in (await _rewrite_group(dsn, gw, channel, chaincode, topic, partitions, group, tables)).items():
            report.written[table] = report.written.get(table, 0) + n
    return report


async def repair_with(dsn: str, fabric: Any, topic: str, partitions: int) -> RepairReport:
    """:func:`repair` through a gateway opened from ``fabric`` (gxcommon.fabric_settings.FabricSettings)."""
    gw = fabric.connect()
    try:
        return await repair(dsn, gw, fabric.channel, fabric.chaincode, topic, partitions)
    finally:
        await gw.close()
