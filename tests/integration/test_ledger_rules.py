"""The ledger's own rules on the real network (issue 21): who may call, and, through the outbox as a
user sends commands, idempotency per tenant, namespaces, money movement, parameters and hostile
values. The whole pipeline runs (`gxctl up`), so the read models are checked against the ledger too.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
import pytest

from fabric_gateway import EndorseError, Gateway, load_identity, load_signer
from gxcommon.fabric_settings import FabricSettings
from gxsdk import enqueue
from tests.integration.conftest import gxctl
from tests.integration.db import scalar
from tests.integration.fabric_helpers import CC_ARGS, TENANT, funded_users, gateway, rid, wallet
from tests.waiting import wait_until

POOL = "@system:SYSTEM_USER_GENESIS_POOL"


@asynccontextmanager
async def as_user(name: str) -> AsyncIterator[Gateway]:
    """A gateway client with another identity of Org1 (``User2``, ``Admin``) from the stack's crypto."""
    from stack.settings import StackSettings

    f = FabricSettings()
    msp = (
        StackSettings().fabric_dir / "crypto/peerOrganizations/org1.example.com/users" / f"{name}@org1.example.com/msp"
    )
    channel = f.grpc_channel()
    try:
        yield Gateway(
            channel,
            load_identity(f.msp_id, next((msp / "signcerts").glob("*.pem"))),
            load_signer(msp / "keystore" / "priv_sk"),
            tls_cert_hash=f.tls_cert_hash(),
        )
    finally:
        await channel.close()


def user2_cert() -> str:
    from stack.settings import StackSettings

    return next(
        (
            StackSettings().fabric_dir / "crypto/peerOrganizations/org1.example.com/users/User2@org1.example.com"
            "/msp/signcerts"
        ).glob("*.pem")
    ).read_text()


async def test_a_member_nobody_granted_is_refused_and_a_grant_has_its_scope(pipeline: dict[str, str]) -> None:
    """The chaincode reads its caller: User2, a client of the channel's own organisation, may read
    but not write until the operator (the org's admin) grants it; the scope `commands` does not
    cover the administrative functions."""
    async with gateway() as gw:
        [alice, bob] = await funded_users(gw, 2, amount=10)
    async with as_user("User2") as u2:
        assert json.loads(await u2.evaluate(*CC_ARGS, "QueryContract:Get", ["wallet", alice]))["balance"] == "10"
        with pytest.raises(EndorseError) as refused:
            await u2.submit_and_wait(
                *CC_ARGS, "TokenomicsContract:TransferTokens", [TENANT, rid(), alice, bob, "1", ""]
            )
        assert "chaincode response 500, FORBIDDEN: Org1MSP identity" in str(refused.value)
        assert "CN=User2@org1.example.com" in str(refused.value) and "may not submit commands" in str(refused.value)
        async with as_user("User1") as u1:  # a submitter is not an operator
            with pytest.raises(EndorseError, match="may not manage submitters"):
                await u1.submit_and_wait(*CC_ARGS, "AdminContract:GrantSubmitter", ["Org1MSP", user2_cert(), "all"])
        async with as_user("Admin") as admin:
            await admin.submit_and_wait(*CC_ARGS, "AdminContract:GrantSubmitter", ["Org1MSP", user2_cert(), "commands"])
            try:
                await u2.submit_and_wait(
                    *CC_ARGS, "TokenomicsContract:TransferTokens", [TENANT, rid(), alice, bob, "1", ""]
                )
                with pytest.raises(EndorseError, match="may not submit administrative commands"):
                    await u2.submit_and_wait(*CC_ARGS, "AdminContract:PauseSystem", [TENANT, rid(), "x"])
            finally:
                await admin.submit_and_wait(*CC_ARGS, "AdminContract:RevokeSubmitter", ["Org1MSP", user2_cert()])
        with pytest.raises(EndorseError, match="FORBIDDEN"):
            await u2.submit_and_wait(
                *CC_ARGS, "TokenomicsContract:TransferTokens", [TENANT, rid(), alice, bob, "1", ""]
            )
    async with gateway() as gw:
        assert (await wallet(gw, bob))["balance"] == "1"


def _rows(dsn: str, tenant: str) -> dict[str, dict]:
    with psycopg.connect(dsn) as conn:
        cur = conn.execute(
            'SELECT "requestId", status::text, "errorCode", error, "fabricTxId" FROM "OutboxCommand"'
            ' WHERE "tenantId" = %s',
            (tenant,),
        )
        return {r[0]: {"status": r[1], "errorCode": r[2], "error": r[3], "tx": r[4]} for r in cur.fetchall()}


def _final(dsn: str, tenant: str, n: int, timeout: float = 120) -> dict[str, dict]:
    """Until the tenant has at least ``n`` rows, each final; the rows."""
    return wait_until(
        lambda: _rows(dsn, tenant),
        f"{n} final rows of {tenant}",
        until=lambda rows: len(rows) >= n and all(r["status"] in ("CONFIRMED", "FAILED") for r in rows.values()),
        timeout=timeout,
        interval=0.3,
    )


def _enqueue(dsn: str, tenant: str, ctype: str, payload: dict, request_id: str | None = None) -> str:
    r = request_id or f"{tenant}-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn) as conn:
        enqueue(conn, tenant_id=tenant, service="svc-test", command_type=ctype, request_id=r, payload=payload)
        conn.commit()
    return r


def _users(n: int, amount: int) -> list[str]:
    async def go() -> list[str]:
        async with gateway() as gw:
            return await funded_users(gw, n, amount)

    return asyncio.run(go())


def _balance(ref: str) -> int:
    async def go() -> int:
        async with gateway() as gw:
            return int((await wallet(gw, ref))["balance"])

    return asyncio.run(go())


def test_through_the_outbox_the_ledger_keeps_its_rules(up: dict[str, str]) -> None:
    dsn = up["GX_PG_DSN"]
    alice, bob = _users(2, amount=100)
    pool_before = _balance(POOL)
    a, b = f"rules-a-{uuid.uuid4().hex[:6]}", f"rules-b-{uuid.uuid4().hex[:6]}"
    # Two tenants, one requestId: both apply (the bare requestId collided before: the second was
    # CONFIRMED with the first one's result and its own effect silently dropped).
    _enqueue(dsn, a, "TRANSFER_TOKENS", {"fromWalletId": alice, "toWalletId": bob, "amount": 10}, "same-id")
    _enqueue(dsn, b, "TRANSFER_TOKENS", {"fromWalletId": alice, "toWalletId": bob, "amount": 20}, "same-id")
    # A transfer "out of the genesis pool" by its old name, and one out of an organisation's wallet:
    # a plain transfer never moves money out of them (both were CONFIRMED before).
    org = f"org-{uuid.uuid4().hex[:6]}"
    _enqueue(dsn, a, "PROPOSE_ORGANIZATION", {"orgId": org, "name": "Coop", "proposerId": alice})
    _final(dsn, a, 2)
    _enqueue(dsn, a, "ACTIVATE_ORGANIZATION", {"orgId": org})
    _final(dsn, a, 3)
    _enqueue(dsn, a, "TRANSFER_TOKENS", {"fromWalletId": alice, "toWalletId": f"@org:{org}", "amount": 30})
    _final(dsn, a, 4)
    pool = _enqueue(
        dsn, a, "TRANSFER_TOKENS", {"fromWalletId": "SYSTEM_USER_GENESIS_POOL", "toWalletId": bob, "amount": 5}
    )
    drain = _enqueue(dsn, a, "TRANSFER_TOKENS", {"fromWalletId": org, "toWalletId": bob, "amount": 5})
    # A tax rate in exponent notation passed the check before and broke every tax call after.
    rate = _enqueue(dsn, a, "UPDATE_SYSTEM_PARAMETER", {"parameter": "velocityTaxBps", "value": "1e2"})
    # A memo that broke the event's JSON: the transfer committed, its event was dead-lettered.
    memo = 'x"__int64__1'
    hostile = _enqueue(dsn, a, "TRANSFER_TOKENS", {"fromWalletId": alice, "toWalletId": bob, "amount": 1, "memo": memo})
    rows = {**_final(dsn, a, 8), **{f"b:{k}": v for k, v in _final(dsn, b, 1).items()}}
    assert rows["same-id"]["status"] == rows["b:same-id"]["status"] == "CONFIRMED"
    assert rows["same-id"]["tx"] != rows["b:same-id"]["tx"]
    assert (rows[pool]["status"], rows[pool]["errorCode"]) == ("FAILED", "CHAINCODE_REJECTED")
    assert "NOT_FOUND: wallet SYSTEM_USER_GENESIS_POOL does not exist" in rows[pool]["error"]
    assert (rows[drain]["status"], rows[drain]["errorCode"]) == ("FAILED", "CHAINCODE_REJECTED")
    assert (rows[rate]["status"], rows[rate]["error"]) == (
        "FAILED",
        'INVALID_PARAMETER: velocityTaxBps must be an integer number of basis points from 0 to 1000, got "1e2"',
    )
    assert rows[hostile]["status"] == "CONFIRMED"
    assert _balance(bob) == 10 + 20 + 1 and _balance(f"@org:{org}") == 30 and _balance(POOL) == pool_before

    # The read models hold the same: the hostile memo's transfer was folded, not dead-lettered.
    def history_rows() -> int:
        with psycopg.connect(dsn) as conn:
            return scalar(conn, 'SELECT count(*) FROM "TransactionHistory" WHERE "requestId" = %s', (hostile,))

    wait_until(history_rows, "the hostile memo's transfer in the read model", until=lambda n: n == 1, timeout=60)
    out = gxctl("verify", "--json", check=False, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr


def test_a_burst_of_genesis_distributions_never_conflicts(up: dict[str, str], tmp_path: Path) -> None:
    """Every distribution debits the genesis pool: keyed by the pool's shard they debit, 300 in a
    burst all confirm, with no MVCC conflict (before, a burst made some FAIL after their retries)."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.hot_keys", "--n", "300", "--modes", "shard", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    [path] = tmp_path.glob("hot_keys-*.json")
    result = json.loads(path.read_text())
    [run] = result["runs"]
    assert (run["commands"], run["finals"], run["failed"], run["mvcc_conflicts"]) == (300, 300, 0, 0), run
