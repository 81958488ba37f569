"""The system group's fold: SystemConfig, LegalTenderStatus and GenesisDistribution. Pure.

SystemConfig keys: ``bootstrapped``, ``supply``, ``paused``, ``pauseReason``, ``admins`` (ids in
appointment order) and ``param.<name>`` per system parameter. A setting written from two keys
(UpdateSystemParameter and an executed proposal) keeps the value of the newer ledger position, so
the order partitions are folded in does not matter. A country's genesis total grows only by
GenesisDistribution rows the statement actually inserted (idempotent on replay).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from projections.model import Event, GroupSpec, Stmt
from schemas.events import (
    AdminAppointed,
    CountryInitialized,
    GenesisDistributed,
    ProposalExecuted,
    SystemBootstrapped,
    SystemParameterUpdated,
    SystemPaused,
    SystemResumed,
    TreasuryActivated,
)

SET = (
    'INSERT INTO {SystemConfig} AS t (key, value, "updatedAt", "lastBlock", "lastTxIndex", "lastEventIndex")'
    " VALUES (%s, %s::jsonb, %s, %s, %s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value,"
    ' "updatedAt" = EXCLUDED."updatedAt", "lastBlock" = EXCLUDED."lastBlock", "lastTxIndex" = EXCLUDED."lastTxIndex",'
    ' "lastEventIndex" = EXCLUDED."lastEventIndex" WHERE (t."lastBlock", t."lastTxIndex", t."lastEventIndex")'
    ' < (EXCLUDED."lastBlock", EXCLUDED."lastTxIndex", EXCLUDED."lastEventIndex")'
)
ADD_ADMIN = (
    "INSERT INTO {SystemConfig} AS t (key, value, \"updatedAt\") VALUES ('admins', jsonb_build_array(%s::text), %s)"
    ' ON CONFLICT (key) DO UPDATE SET value = t.value || EXCLUDED.value, "updatedAt" = EXCLUDED."updatedAt"'
    " WHERE NOT t.value ? %s"
)
COUNTRY = (
    'INSERT INTO {LegalTenderStatus} AS t ("countryCode", "countryName", "updatedAt") VALUES (%s, %s, %s)'
    ' ON CONFLICT ("countryCode") DO UPDATE SET "countryName" = EXCLUDED."countryName",'
    ' "updatedAt" = GREATEST(t."updatedAt", EXCLUDED."updatedAt")'
)
TREASURY = (
    'INSERT INTO {LegalTenderStatus} AS t ("countryCode", "countryName", "treasuryActive", "updatedAt")'
    ' VALUES (%s, \'\', true, %s) ON CONFLICT ("countryCode") DO UPDATE SET "treasuryActive" = true,'
    ' "updatedAt" = GREATEST(t."updatedAt", EXCLUDED."updatedAt")'
)
GENESIS = (
    'WITH g AS (INSERT INTO {GenesisDistribution} (id, "countryCode", "userId", amount, "blockNumber", "committedAt")'
    " SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::numeric[], %b::bigint[], %b::timestamptz[])"
    ' ON CONFLICT (id) DO NOTHING RETURNING "countryCode", amount, "committedAt")'
    ' INSERT INTO {LegalTenderStatus} AS t ("countryCode", "countryName", "genesisDistributed", "updatedAt")'
    ' SELECT "countryCode", \'\', sum(amount), max("committedAt") FROM g GROUP BY "countryCode"'
    ' ON CONFLICT ("countryCode") DO UPDATE SET'
    ' "genesisDistributed" = t."genesisDistributed" + EXCLUDED."genesisDistributed",'
    ' "updatedAt" = GREATEST(t."updatedAt", EXCLUDED."updatedAt")'
)


def _set(e: Event, key: str, value: object) -> Stmt:
    env = e.env
    return Stmt(SET, (key, json.dumps(value), env.commitTime, env.block, env.txIndex, env.eventIndex))


def fold(events: Sequence[Event]) -> list[Stmt]:
    out: list[Stmt] = []
    genesis: dict[str, tuple[str, str, str, int, int, datetime]] = {}
    for e in events:
        at = e.env.commitTime
        match e.payload:
            case SystemBootstrapped(supply=n, parameters=params):
                out += [_set(e, "bootstrapped", True), _set(e, "supply", n)]
                out += [_set(e, f"param.{k}", v) for k, v in sorted(params.items())]
            case SystemParameterUpdated(parameter=k, value=v):
                out.append(_set(e, f"param.{k}", v))
            case ProposalExecuted(status="EXECUTED", parameter=k, value=v):
                out.append(_set(e, f"param.{k}", v))
            case SystemPaused(reason=r):
                out += [_set(e, "paused", True), _set(e, "pauseReason", r)]
            case SystemResumed():
                out += [_set(e, "paused", False), _set(e, "pauseReason", None)]
            case AdminAppointed(userId=u):
                out.append(Stmt(ADD_ADMIN, (u, at, u)))
            case CountryInitialized(countryCode=c, countryName=n):
                out.append(Stmt(COUNTRY, (c, n, at)))
            case TreasuryActivated(countryCode=c):
                out.append(Stmt(TREASURY, (c, at)))
            case GenesisDistributed(userId=u, countryCode=c, amount=n):
                genesis.setdefault(e.env.event_id, (e.env.event_id, c, u, n, e.env.block, at))
    if genesis:
        out.append(Stmt(GENESIS, tuple(list(c) for c in zip(*genesis.values()))))
    return out


GROUP = GroupSpec(
    "system",
    ("SystemConfig", "LegalTenderStatus", "GenesisDistribution"),
    frozenset(
        {
            "SystemBootstrapped",
            "SystemParameterUpdated",
            "ProposalExecuted",
            "SystemPaused",
            "SystemResumed",
            "AdminAppointed",
            "CountryInitialized",
            "TreasuryActivated",
            "GenesisDistributed",
        }
    ),
    fold,
)
