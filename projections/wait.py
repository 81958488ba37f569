"""Read-your-writes: wait until every projector that a command's events touch has applied them.

1. The command's transaction: its OutboxCommand row gives the status and the Fabric tx id; a command
   produced straight to Kafka has no row, and the chaincode's record of (tenantId, requestId) gives
   the tx id once it is committed. A command that ended FAILED or REJECTED (a rejection the
   chaincode recorded included) changed nothing: no wait.
2. The block holding that transaction (qscc GetBlockByTxID through the gateway) gives its events,
   each one's ledger position and, by the publisher's own rule (schemas.events), its partition.
3. For every group that folds such an event, its checkpoint on that partition must reach the
   event's position (block, txIndex, eventIndex). Partitions are in ledger order, so reaching the
   position means the event was applied (or dead-lettered, which the result reports).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg

from fabric_gateway import Gateway
from fabric_gateway.blocks import parse_block
from fabric_gateway.errors import GatewayError
from projections.errors import WaitError, WaitTimeout
from projections.groups import handled_by
from schemas.events import event_key, partition_for

FINAL_FAILED = ("FAILED", "REJECTED")


@dataclass
class WaitResult:
    requestId: str
    status: str  # CONFIRMED, FAILED, REJECTED
    txId: str | None = None
    block: int | None = None
    events: list[dict[str, Any]] = field(default_factory=list)  # name, partition, position, groups
    waited_ms: int = 0


async def _tx_of(
    conn: psycopg.Connection[Any], gw: Gateway, channel: str, chaincode: str, request_id: str, tenant_id: str | None
) -> tuple[str, str | None]:
    """(status, txId) once the command is final; ("PENDING", None) before. WaitError if there is
    no outbox row and no tenant to ask the ledger with."""

    def row() -> tuple[str, str | None, str] | None:
        return conn.execute(
            'SELECT status, "fabricTxId", "tenantId" FROM "OutboxCommand" WHERE "requestId" = %s'
            ' AND (%s::text IS NULL OR "tenantId" = %s) ORDER BY "createdAt" DESC LIMIT 1',
            (request_id, tenant_id, tenant_id),
        ).fetchone()

    r = await asyncio.to_thread(row)
    if r is not None and r[0] in FINAL_FAILED:
        return r[0], r[1]
    if r is not None and r[0] == "CONFIRMED" and r[1]:
        return "CONFIRMED", r[1]
    tenant = tenant_id or (r[2] if r is not None else None)
    if tenant is None:
        raise WaitError(f"request {request_id}: no outbox row; give its tenant (--tenant) to find it on the ledger")
    # No row (produced straight to Kafka) or not final yet: the ledger knows once it is committed.
    answer = json.loads(await gw.evaluate(channel, chaincode, "QueryContract:GetRequest", [tenant, request_id]))
    if isinstance(answer, dict) and answer.get("txId"):
        # A recorded rejection changed nothing but the command's record: there is nothing to wait for.
        return ("FAILED" if answer.get("rejected") else "CONFIRMED"), answer["txId"]
    return "PENDING", None


async def _events_of(gw: Gateway, channel: str, tx_id: str, partitions: int) -> tuple[int, list[dict[str, Any]]]:
    from fabric_protos.common import common_pb2

    raw = await gw.evaluate(channel, "qscc", "GetBlockByTxID", [channel, tx_id])
    block = parse_block(common_pb2.Block.FromString(raw))
    for tx in block.transactions:
        if tx.tx_id == tx_id:
            out = []
            for i, ev in enumerate(tx.events):
                try:
                    payload = json.loads(ev.payload)
                except ValueError:
                    payload = {}
                key = event_key(ev.name, payload if isinstance(payload, dict) else {})
                out.append(
                    {
                        "name": ev.name,
                        "partition": partition_for(key, partitions),
                        "position": [block.number, tx.index, i],
                        "groups": handled_by(ev.name),
                    }
                )
            return block.number, out
    raise GatewayError(f"transaction {tx_id} is not in the block qscc returned", tx_id)


def _reached(conn: psycopg.Connection[Any], topic: str, events: list[dict[str, Any]]) -> list[str]:
    """The (group, event) pairs not applied yet, as text."""
    missing = []
    for ev in events:
        for g in ev["groups"]:
            row = conn.execute(
                'SELECT "lastBlock", "lastTxIndex", "lastEventIndex" FROM "ProjectorState"'
                ' WHERE "projectorName" = %s AND topic = %s AND "partition" = %s',
                (g, topic, ev["partition"]),
            ).fetchone()
            if row is None or tuple(row) < tuple(ev["position"]):
                missing.append(f"{g} has not applied {ev['name']} (partition {ev['partition']})")
    return missing


async def wait_for_request(
    request_id: str,
    dsn: str,
    gw: Gateway,
    channel: str,
    chaincode: str,
    topic: str,
    partitions: int,
    timeout: float = 30.0,
    interval: float = 0.05,
    tenant_id: str | None = None,
) -> WaitResult:
    """Returns when the command's effects are in every read model it touches. ``tenant_id``: the
    command's tenant (needed only for a command without an outbox row).

    Raises WaitTimeout naming what is still missing (the command is not final yet, or which
    projector has not applied which event); WaitError without a row or a tenant; GatewayError if
    the peer cannot be asked.
    """
    # One connection for the whole wait (it polls every ``interval``), autocommit: each poll sees
    # the latest commits.
    conn: psycopg.Connection[Any] = await asyncio.to_thread(lambda: psycopg.connect(dsn, autocommit=True))
    try:
        return await _wait(conn, request_id, gw, channel, chaincode, topic, partitions, timeout, interval, tenant_id)
    finally:
        conn.close()


async def _wait(
    conn: psycopg.Connection[Any],
    request_id: str,
    gw: Gateway,
    channel: str,
    chaincode: str,
    topic: str,
    partitions: int,
    timeout: float,
    interval: float,
    tenant_id: str | None,
) -> WaitResult:
    t0 = time.monotonic()
    deadline = t0 + timeout
    while True:
        status, tx_id = await _tx_of(conn, gw, channel, chaincode, request_id, tenant_id)
        if status != "PENDING":
            break
        if time.monotonic() >= deadline:
            raise WaitTimeout(
                f"request {request_id}: not committed on the ledger after {timeout:.0f}s "
                "(unknown requestId, or still in flight: gxctl commands show)"
            )
        await asyncio.sleep(interval)
    result = WaitResult(request_id, status, tx_id)
    if status in FINAL_FAILED or tx_id is None:
        result.waited_ms = int((time.monotonic() - t0) * 1000)
        return result
    result.block, result.events = await _events_of(gw, channel, tx_id, partitions)
    while True:
        missing = await asyncio.to_thread(_reached, conn, topic, result.events)
        if not missing:
            result.waited_ms = int((time.monotonic() - t0) * 1000)
            return result
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"request {request_id}: after {timeout:.0f}s " + "; ".join(missing))
        await asyncio.sleep(interval)
