"""Issue 30, defect 4: a command reported FAILED whose transaction then commits VALID ends
CONFIRMED with that transaction and block, through the real path: Fabric -> block publisher ->
gx.fabric.events -> the results writer's corrector -> gx.command-results -> the results writer ->
the outbox row; also when the results writer (and its corrector) is killed in between.

No submitter runs here: the test plays its part. It endorses each command's transaction through
the real gateway, reports the command FAILED (RETRIES_EXHAUSTED, the transaction in its attempt
log, as a last re-check that timed out does) and submits the transaction afterwards: Fabric gives
a transaction no expiry, so it commits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from fabric_gateway.client import Endorsed
from gxcommon.fabric_settings import FabricSettings
from gxcommon.kafka import Producer
from gxcommon.worker_settings import WorkerSettings
from gxsdk import enqueue
from schemas.envelopes import Attempt, CommandResult, ResultStatus
from schemas.examples import example
from schemas.routing import to_invocation
from stack.pipeline import Pipeline
from tests.integration.fabric_helpers import ensure, gateway
from tests.integration.fabric_helpers import rid as new_rid
from tests.integration.workers import Worker, start_group_at_end
from tests.waiting import wait_until


@pytest.fixture(scope="module")
def publisher(pipeline: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """The block publisher, alone: the deployment's own transactional id, so that no other
    publishes the same blocks (workers `gxctl up` left running are stopped first)."""
    Pipeline().stop_workers()
    w = Worker("block-publisher", WorkerSettings().app_id, tmp_path_factory.mktemp("publisher")).start()
    # Caught up with the ledger: the events a test waits for are then the ones its own commands make.
    last = chain_height() - 1
    try:
        wait_until(
            lambda: w.metric("publisher_last_block"),
            f"the block publisher at block {last}",
            until=lambda b: b >= last,
            timeout=120,
            detail=lambda: w.log()[-3000:],
        )
        yield w
    finally:
        w.stop()


def chain_height() -> int:
    async def go() -> int:
        async with gateway() as gw:
            return await gw.chain_height(FabricSettings().channel)

    return asyncio.run(go())


def send(bootstrap: str, records: list[tuple[bytes, bytes]]) -> None:
    p = Producer({"bootstrap.servers": bootstrap})
    for key, value in records:
        p.produce("gx.command-results", key=key, value=value)
    assert p.flush(30) == 0


def ledger_ready() -> None:
    """The system bootstrapped and the users' country known (an earlier test may have done it)."""

    async def go() -> None:
        async with gateway() as gw:
            await ensure(gw, "AdminContract:BootstrapSystem", new_rid("boot"))
            await ensure(gw, "AdminContract:InitializeCountry", new_rid("country"), "MY", "Malaysia")

    asyncio.run(go())


def endorse(tenant: str, rid: str, payload: dict) -> Endorsed:
    """The command's transaction, endorsed (not submitted), exactly as the submitter builds it."""
    f = FabricSettings()
    contract, function, args = to_invocation("CREATE_USER", rid, payload, tenant)

    async def go() -> Endorsed:
        async with gateway() as gw:
            return await gw.endorse(f.channel, f.chaincode, f"{contract}:{function}", args)

    return asyncio.run(go())


def commit(tx: Endorsed) -> int:
    """Submit ``tx`` and wait for its VALID commit; its block."""

    async def go() -> int:
        async with gateway() as gw:
            await gw.submit(tx)
            status = await gw.commit_status(tx)
            status.raise_for_status()
            return status.block

    return asyncio.run(go())


def failed(cmd_id: str, rid: str, tenant: str, tx: Endorsed) -> tuple[bytes, bytes]:
    """The FAILED result a submitter whose last re-check of ``tx`` timed out publishes."""
    at = datetime.now(UTC)
    log = [Attempt(attempt=n, txId=tx.tx_id, outcome="RETRYABLE", errorClass="CommitStatusError", at=at) for n in (1,)]
    result = CommandResult(
        commandId=cmd_id,
        requestId=rid,
        tenantId=tenant,
        key=rid,
        status=ResultStatus.FAILED,
        fabricTxId=tx.tx_id,
        errorCode="RETRIES_EXHAUSTED",
        error="commit status of the transaction not known after 5 s",
        attempts=5,
        attemptLog=log,
    )
    return rid.encode(), result.model_dump_json().encode()


def rows(dsn: str, tenant: str) -> dict[str, tuple]:
    with psycopg.connect(dsn) as conn:
        return {
            r[0]: r[1:]
            for r in conn.execute(
                'SELECT "requestId", status::text, "fabricTxId", "commitBlock", "errorCode",'
                ' jsonb_array_length("attemptLog") FROM "OutboxCommand" WHERE "tenantId" = %s',
                (tenant,),
            ).fetchall()
        }


def test_a_command_reported_failed_whose_transaction_commits_later_ends_confirmed(
    pipeline: dict[str, str], publisher: Worker, tmp_path: Path
) -> None:
    dsn, bootstrap = pipeline["GX_PG_DSN"], pipeline["GX_KAFKA_BOOTSTRAP"]
    t = f"corr-{uuid.uuid4().hex[:8]}"
    app_id = f"gx-test-{uuid.uuid4().hex[:6]}"
    # Long-lived groups: the writer and its corrector start where the topics end now.
    start_group_at_end(bootstrap, f"{app_id}-results-writer", "gx.command-results")
    start_group_at_end(bootstrap, f"{app_id}-results-corrector", "gx.fabric.events")
    payloads = {rid: example("CREATE_USER", f"{t}-{rid}") for rid in ("early", "late")}
    with psycopg.connect(dsn) as conn:
        ids = {
            rid: enqueue(conn, tenant_id=t, service="s", command_type="CREATE_USER", request_id=rid, payload=p).id
            for rid, p in payloads.items()
        }
        conn.commit()
    ledger_ready()
    txs = {rid: endorse(t, rid, p) for rid, p in payloads.items()}
    writer = Worker("results-writer", app_id, tmp_path).start()
    try:
        # "early": reported FAILED first; its transaction commits later.
        send(bootstrap, [failed(ids["early"], "early", t, txs["early"])])
        wait_until(lambda: rows(dsn, t)["early"][0], "early FAILED", until=lambda s: s == "FAILED", timeout=60)
        # "late": its transaction commits while its row is still PENDING (the FAILED result is not
        # written yet): the corrector reads the event and must wait for the row, across a restart.
        late_block = commit(txs["late"])
        wait_until(
            lambda: writer.metric("results_corrector_watched"),
            "the corrector watching the late command's event",
            until=lambda n: n >= 1,
            timeout=60,
            detail=lambda: writer.log()[-3000:],
        )
        writer.kill()
        send(bootstrap, [failed(ids["late"], "late", t, txs["late"])])
        early_block = commit(txs["early"])
        writer = Worker("results-writer", app_id, tmp_path).start()
        want = {
            "early": ("CONFIRMED", txs["early"].tx_id, early_block, None, 1),
            "late": ("CONFIRMED", txs["late"].tx_id, late_block, None, 1),
        }
        wait_until(
            lambda: rows(dsn, t),
            "both rows corrected",
            until=lambda r: r == want,
            timeout=60,
            detail=lambda: writer.log()[-3000:],
        )
        assert writer.metric("results_writer_corrections_total", {"from_error_code": "RETRIES_EXHAUSTED"}) == 2
        assert writer.metric("results_corrector_corrections_total") == 2
        assert writer.metric("results_corrector_watched") == 0
    finally:
        writer.stop()
