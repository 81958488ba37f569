"""What `gxctl projections repair` writes: the read-model rows that differ from the ledger, with the
ledger's values. Pure (differences in, statements out).

- A world-state row that is missing or differs (projections.expected.compare) is rewritten whole
  from the ledger's entity, in its group's transaction that holds the group's checkpoint locks
  (projections.repair): every compared column, ``updatedAt``, and the row's ledger position moved
  up to the group's newest applied position (never lowered). A position guard would refuse the
  very write that repairs a row whose position a later event moved (an activation dead-lettered,
  an auth rule applied after it): the rewrite is unconditional, under the lock. Events past that
  position that the projector has yet to fold then apply over it, in order, as always.
- What moves by deltas is never set: a wallet's balance and a country's genesis total move only
  with their history rows, which are inserted by the folds' own statements (ON CONFLICT DO NOTHING:
  once, whoever gets there first; no lock needed). A proposal's tally is the ledger's, written
  together with its Vote rows (its companions), so a vote the ledger counted and the projector has
  yet to fold finds its row and is not counted twice.
- A row the read models cannot hold (projections.storable.holdable) is left out and reported; a
  row not on the ledger (extra) and a history row that differs are left for an operator.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from projections import ledger, system
from projections.expected import COLUMNS, HISTORY_KEYS, KEYS, Difference
from projections.groups import GROUPS
from projections.model import EXCLUDED_NEWER, Stmt

GROUP_OF: dict[str, str] = {t: name for name, g in GROUPS.items() for t in g.tables}
# Columns moved only by deltas guarded by their own rows: never set by a repair.
DELTAS: dict[str, frozenset[str]] = {
    "Wallet": frozenset({"balance"}),
    "LegalTenderStatus": frozenset({"genesisDistributed"}),
}
JSONB: dict[str, frozenset[str]] = {
    "Organization": frozenset({"members"}),
    "MultiSigTx": frozenset({"approvals"}),
    "SystemConfig": frozenset({"value"}),
}
# Tables whose rows remember the ledger position that last set them (migrations 005 and 007).
POSITIONED = frozenset({"User", "Wallet", "Organization", "MultiSigTx", "Proposal", "Loan", "SystemConfig"})
# Columns a row needs on insert that the ledger's world state does not say (-1: unknown).
ON_INSERT: dict[str, dict[str, Any]] = {"User": {"createdBlock": -1}}
TIMES: dict[str, str] = {"Vote": "castAt"}  # the time column of tables without "updatedAt"
# The parameters of ledger.MOVE and system.GENESIS, in their order.
MOVE_COLUMNS = (
    "id",
    "txId",
    "blockNumber",
    "txIndex",
    "kind",
    "fromWalletId",
    "toWalletId",
    "amount",
    "requestId",
    "committedAt",
)
GENESIS_COLUMNS = ("id", "countryCode", "userId", "amount", "blockNumber", "committedAt")


@dataclass
class Plan:
    rows: dict[str, dict[str, set[tuple[Any, ...]]]] = field(default_factory=dict)  # group -> table -> keys
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # table -> the ledger's rows
    unrepresentable: list[Difference] = field(default_factory=list)
    left: list[Difference] = field(default_factory=list)


def plan(diffs: Sequence[Difference]) -> Plan:
    """Which rows to rewrite (by group and table), which history rows to insert, and what is left."""
    out = Plan()
    for d in diffs:
        if not d.representable:
            out.unrepresentable.append(d)
        elif d.table in HISTORY_KEYS:
            if d.field == "(row)" and d.read_model is None:
                out.history.setdefault(d.table, []).append(d.ledger)
            else:
                out.left.append(d)
        elif d.table in KEYS and not (d.field == "(row)" and d.ledger is None):
            out.rows.setdefault(GROUP_OF[d.table], {}).setdefault(d.table, set()).add(d.row_key)
        elif d.table in KEYS:
            out.left.append(d)
        # differences of balances against their history (field "(history)") follow the history
    return out


def companions(table: str) -> tuple[str, ...]:
    """Tables rewritten with ``table`` (their rows of the same entity, from the ledger)."""
    return ("Vote",) if table == "Proposal" else ()


def _columns(table: str) -> list[str]:
    return [*KEYS[table], *(c for c in COLUMNS[table] if c not in DELTAS.get(table, frozenset()))]


def rewrite(table: str, rows: Sequence[dict[str, Any]], position: tuple[int, int, int], now: datetime) -> list[Stmt]:
    """Statements writing ``rows`` (the ledger's, as projections.expected gives them) into
    ``table`` (a ``{Table}`` placeholder), whatever the rows there say, their position moved up
    to ``position``."""
    cols = _columns(table)
    jsonb = JSONB.get(table, frozenset())
    time_col = TIMES.get(table, "updatedAt")
    extra = ON_INSERT.get(table, {})
    names = [*cols, time_col, *extra]
    values = ["%s::jsonb" if c in jsonb else "%s" for c in cols] + ["%s"] * (1 + len(extra))
    sets = [f'"{c}" = EXCLUDED."{c}"' for c in cols if c not in KEYS[table]]
    sets.append(f'"{time_col}" = EXCLUDED."{time_col}"')
    if table in POSITIONED:
        position_cols = ("lastBlock", "lastTxIndex", "lastEventIndex")
        names += position_cols
        values += ["%s"] * 3
        sets += [f'"{c}" = CASE WHEN {EXCLUDED_NEWER} THEN EXCLUDED."{c}" ELSE t."{c}" END' for c in position_cols]
    columns = ", ".join(f'"{n}"' for n in names)
    keys = ", ".join(f'"{k}"' for k in KEYS[table])
    sql = (
        f"INSERT INTO {{{table}}} AS t ({columns}) VALUES ({', '.join(values)})"
        f" ON CONFLICT ({keys}) DO UPDATE SET {', '.join(sets)}"
    )
    out = []
    for r in rows:
        params: list[Any] = [json.dumps(r.get(c)) if c in jsonb else r.get(c) for c in cols]
        params += [now, *extra.values()]
        if table in POSITIONED:
            params += list(position)
        out.append(Stmt(sql, tuple(params)))
    return out


def history(missing: dict[str, list[dict[str, Any]]]) -> list[Stmt]:
    """The folds' own statements inserting the ledger's missing history rows, with their deltas
    (a wallet's balance, a country's genesis total): idempotent, in any order."""
    out = []
    moves = missing.get("TransactionHistory", [])
    if moves:
        out.append(Stmt(ledger.MOVE, tuple([r[c] for r in moves] for c in MOVE_COLUMNS)))
    genesis = missing.get("GenesisDistribution", [])
    if genesis:
        out.append(Stmt(system.GENESIS, tuple([r[c] for r in genesis] for c in GENESIS_COLUMNS)))
    return out
