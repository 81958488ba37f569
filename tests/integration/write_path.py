"""Helpers of the write-path tests: enqueue through the outbox, read the rows back, wait for final
statuses, funded users and ledger reads through the real gateway."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg

from gxsdk import enqueue
from projections.ledger_reads import every_page
from tests.integration.fabric_helpers import CC_ARGS, funded_users, gateway, ledger_blocks, wallet
from tests.integration.workers import Worker
from tests.waiting import wait_until

FINAL = ("CONFIRMED", "FAILED")
RAW = (
    'INSERT INTO "OutboxCommand" (id, "tenantId", service, "commandType", "requestId", payload, status, attempts,'
    ' "createdAt", "updatedAt") VALUES (%s, %s, %s, %s, %s, %s, \'PENDING\', 0, now(), now())'
)


@dataclass
class WritePath:
    dsn: str
    bootstrap: str
    app_id: str
    log_dir: Path
    submitter: Worker
    writer: Worker

    def new_submitter(self) -> Worker:
        return Worker("submitter", self.app_id, self.log_dir, GX_BREAKER_MAX_PROBE_S="3").start()

    def enqueue(self, tenant: str, ctype: str, payload: dict, request_id: str | None = None) -> str:
        rid = request_id or f"{tenant}-{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.dsn) as conn:
            enqueue(conn, tenant_id=tenant, service="svc-test", command_type=ctype, request_id=rid, payload=payload)
            conn.commit()
        return rid

    def rows(self, tenant: str) -> dict[str, dict]:
        with psycopg.connect(self.dsn) as conn:
            cur = conn.execute(
                'SELECT "requestId", status::text AS status, "fabricTxId", "commitBlock", "errorCode", error, attempts,'
                ' "kafkaPartition", "kafkaOffset", "attemptLog" FROM "OutboxCommand" WHERE "tenantId" = %s',
                (tenant,),
            )
            assert cur.description is not None  # a SELECT has columns
            names = [c.name for c in cur.description]
            return {r[0]: dict(zip(names, r)) for r in cur.fetchall()}

    def wait_final(self, tenant: str, n: int, timeout: float = 120) -> dict[str, dict]:
        """Until the tenant has ``n`` rows, each final; the rows. The AssertionError of a timeout
        shows the rows not final and the submitter's log."""

        def not_final(rows: dict[str, dict]) -> dict[str, tuple]:
            return {
                rid: (r["status"], r["attempts"], r["kafkaPartition"], r["kafkaOffset"])
                for rid, r in rows.items()
                if r["status"] not in FINAL
            }

        return wait_until(
            lambda: self.rows(tenant),
            f"{n} final rows of {tenant}",
            until=lambda rows: len(rows) == n and not not_final(rows),
            timeout=timeout,
            interval=0.5,
            detail=lambda: f"not final: {not_final(self.rows(tenant))}; submitter log:\n{self.submitter.log()[-1500:]}",
        )


def users(n: int, tenant: str, amount: int = 1000) -> list[str]:
    """``n`` new users of ``tenant`` (only its commands may act on them); the first holds ``amount``."""

    async def go() -> list[str]:
        async with gateway() as gw:
            return await funded_users(gw, n, amount, tenant=tenant)

    return asyncio.run(go())


def ledger_events(first_block: int, last_block: int, name: str) -> list[tuple[int, int, dict]]:
    """(block, tx index, payload) of every valid ``name`` event in the blocks, in ledger order."""
    return [
        (b.number, t.index, json.loads(e.payload))
        for b in ledger_blocks(first_block, last_block)
        for t in b.transactions
        if t.valid
        for e in t.events
        if e.name == name
    ]


def balance(wallet_id: str) -> int:
    async def go() -> int:
        async with gateway() as gw:
            return int((await wallet(gw, wallet_id))["balance"])

    return asyncio.run(go())


def ledger_requests(tenant: str) -> list[dict]:
    """The ledger's record of every command of ``tenant`` it answered (QueryContract:ListRequests):
    requestId, function, txId, and the rejection if it recorded one."""

    async def go() -> list[dict]:
        async with gateway() as gw:
            return await every_page(gw, *CC_ARGS, "ListRequests", tenant)  # paged since issue 31

    return asyncio.run(go())
