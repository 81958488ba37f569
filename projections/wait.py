"""Read-your-writes: wait until every projector that a command's events touch has applied them.

1. The command's transaction: its OutboxCommand row gives the status and the Fabric tx id; a command
   produced straight to Kafka has no row, and the chaincode's record of (tenantId, requestId) gives
   the tx id once it is committed. A command that ended FAILED or REJECTED (a rejection the
   chaincode recorded included) changed nothing: no wait.
2. The block holding that transaction (qscc GetBlockByTxID through the gateway) gives its events,
   each one's ledger position and, by the publisher's own rule (schemas.events), its partition.
3. For every group that folds such an event, its checkpoint on that partition must reach the
   event's position (block, txIndex, eventIndex). Partitions are in ledger order, so reaching the
   position means the event was applied, or dead-lettered.
4. Dead letters of the transaction on gx.projections.dlq (their ``txId`` header, from the block's
   commit time on): an event a group dead-lettered (its checkpoint passes it all the same), or one
   the block publisher could not publish (never on the topic: its position may never be reached),
   is not in the read models. The wait then fails with :class:`WaitDeadLettered`, naming each such
   event, the group, the reason and the dead letter; `gxctl projections repair` re-derives the rows
   from the ledger. A projector sends its dead letters, acknowledged, before it commits the batch,
   so once the positions are reached the dead-letter topic already holds them.
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
from projections.errors import WaitDeadLettered, WaitError, WaitTimeout
from projections.groups import handled_by
from projections.kafka_io import dead_letters_of
from schemas.events import event_key, partition_for

FINAL_FAILED = ("FAILED", "REJECTED")
PUBLISHER = "block-publisher"  # the projector header of the block publisher's own dead letters
# Dead letters are looked for from this long before the block's commit time (clocks differ).
SINCE_MARGIN_MS = 10 * 60 * 1000


@dataclass
class WaitResult:
    requestId: str
    status: str  # CONFIRMED, FAILED, REJECTED
    txId: str | None = None
    block: int | None = None
    events: list[dict[str, Any]] = field(default_factory=list)  # name, partition, position, groups
    waited_ms: int = 0
    # Events of the command not in the read models: name, projector, errorCode, reason, deadLetter
    deadLettered: list[dict[str, Any]] = field(default_factory=list)


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


async def _events_of(
    gw: Gateway, channel: str, tx_id: str, partitions: int
) -> tuple[int, list[dict[str, Any]], int | None]:
    """The block of ``tx_id``, its events (name, partition, position, groups) and its commit time (ms)."""
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
            at = getattr(tx, "timestamp", None)
            return block.number, out, int(at.timestamp() * 1000) if at is not None else None
    raise GatewayError(f"transaction {tx_id} is not in the block qscc returned", tx_id)


def _reached(conn: psycopg.Connection[Any], topic: str, events: list[dict[str, Any]]) -> set[tuple[str, int]]:
    """(group, event index) pairs whose group's checkpoint has reached the event's position."""
    out = set()
    for i, ev in enumerate(events):
        for g in ev["groups"]:
            row = conn.execute(
                'SELECT "lastBlock", "lastTxIndex", "lastEventIndex" FROM "ProjectorState"'
                ' WHERE "projectorName" = %s AND topic = %s AND "partition" = %s',
                (g, topic, ev["partition"]),
            ).fetchone()
            if row is not None and tuple(row) >= tuple(ev["position"]):
                out.add((g, i))
    return out


def settle(
    tx_id: str, events: list[dict[str, Any]], reached: set[tuple[str, int]], letters: list[dict[str, Any]]
) -> tuple[list[str], list[dict[str, Any]]]:
    """What is still missing (text, one per group and event neither reached nor dead-lettered) and
    which events were dead-lettered (the dead letter with the event's name), from the positions
    ``reached`` and the transaction's dead ``letters``. Pure."""
    missing: list[str] = []
    dead: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    for i, ev in enumerate(events):
        for g in ev["groups"]:
            mine = [
                d
                for d in letters
                if d.get("txId") == tx_id and d.get("eventIndex") in (i, None) and d.get("projector") in (g, PUBLISHER)
            ]
            for d in mine:
                if (str(d.get("deadLetter", id(d))), i) not in seen:
                    seen.add((str(d.get("deadLetter", id(d))), i))
                    dead.append({**d, "name": ev["name"]})
            if not mine and (g, i) not in reached:
                missing.append(f"{g} has not applied {ev['name']} (partition {ev['partition']})")
    return missing, dead


def _dead_message(request_id: str, result: WaitResult) -> str:
    parts = []
    for d in result.deadLettered:
        i = d.get("eventIndex")
        what = f"{d['name']} (block {result.block}{f', event {i}' if i is not None else ''})"
        why = f"{d.get('errorCode')}: {d.get('reason', '')}"[:300]
        where = d.get("deadLetter", "?")
        if d.get("projector") == PUBLISHER:
            parts.append(f"{what} never published: the block publisher dead-lettered it ({why}) at {where}")
        else:
            parts.append(f"{what} dead-lettered by {d.get('projector')} ({why}) at {where}")
    return (
        f"request {request_id}: "
        + "; ".join(parts)
        + ". The read models lack it until it is repaired: gxctl projections repair"
    )


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
    *,
    bootstrap: str,
    dlq_topic: str = "gx.projections.dlq",
) -> WaitResult:
    """Returns when the command's effects are in every read model it touches. ``tenant_id``: the
    command's tenant (needed only for a command without an outbox row); ``bootstrap`` and
    ``dlq_topic``: where its dead letters would be.

    Raises WaitDeadLettered (with the result) naming each event of the command that a group
    dead-lettered or the block publisher could not publish; WaitTimeout naming what is still
    missing (the command is not final yet, or which projector has not applied which event);
    WaitError without a row or a tenant; GatewayError if the peer cannot be asked; GapReadError if
    the dead-letter topic cannot be read.
    """
    # One connection for the whole wait (it polls every ``interval``), autocommit: each poll sees
    # the latest commits.
    conn: psycopg.Connection[Any] = await asyncio.to_thread(lambda: psycopg.connect(dsn, autocommit=True))
    try:
        return await _wait(
            conn,
            request_id,
            gw,
            channel,
            chaincode,
            topic,
            partitions,
            timeout,
            interval,
            tenant_id,
            bootstrap,
            dlq_topic,
        )
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
    bootstrap: str,
    dlq_topic: str,
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
    result.block, result.events, committed_ms = await _events_of(gw, channel, tx_id, partitions)
    since = (committed_ms or int(time.time() * 1000)) - SINCE_MARGIN_MS

    def letters() -> list[dict[str, Any]]:
        return dead_letters_of(bootstrap, dlq_topic, tx_id, since)

    found: list[dict[str, Any]] = []
    looked = 0.0
    while True:
        reached = await asyncio.to_thread(_reached, conn, topic, result.events)
        every = all((g, i) in reached for i, ev in enumerate(result.events) for g in ev["groups"])
        # The dead-letter topic once every position is reached (its letters are there by then), and
        # every second before (an event never published never has its position reached).
        if every or time.monotonic() - looked >= 1.0:
            found, looked = await asyncio.to_thread(letters), time.monotonic()
        missing, result.deadLettered = settle(tx_id, result.events, reached, found)
        if not missing:
            result.waited_ms = int((time.monotonic() - t0) * 1000)
            if result.deadLettered:
                raise WaitDeadLettered(_dead_message(request_id, result), result)
            return result
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"request {request_id}: after {timeout:.0f}s " + "; ".join(missing))
        await asyncio.sleep(interval)
