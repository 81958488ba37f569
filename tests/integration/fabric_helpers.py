"""Helpers for tests on the real Fabric network: a Gateway from the stack's GX_FABRIC_* settings and
a funded world of fresh ids (the ledger outlives a test run, so every test makes its own entities)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fabric_gateway import Gateway, load_identity, load_signer
from gxcommon.fabric_settings import FabricSettings

CC_ARGS = ("gxchannel", "gxtv3")
TENANT = "tests"  # the chaincode keys each command by (tenant, requestId); helpers put it first


class Rejected(Exception):
    """The chaincode refused the command and recorded the rejection (its transaction committed)."""

    def __init__(self, answer: dict, block: int) -> None:
        self.answer, self.block = answer, block
        super().__init__(f"{answer['rejected']['code']}: {answer['rejected']['message']}")


def user_files(name: str) -> tuple[Path, Path]:
    """(certificate, private key) of identity ``name`` of Org1 (``Admin``, ``User1``, ``User2``) in
    the stack's crypto material."""
    from stack.settings import StackSettings

    msp = (
        StackSettings().fabric_dir / "crypto/peerOrganizations/org1.example.com/users" / f"{name}@org1.example.com/msp"
    )
    return next((msp / "signcerts").glob("*.pem")), msp / "keystore" / "priv_sk"


@asynccontextmanager
async def gateway(user: str | None = None) -> AsyncIterator[Gateway]:
    """A Gateway client of the stack's client identity (User1), or of identity ``user`` of Org1."""
    f = FabricSettings()
    assert f.gateway and f.cert and f.key and f.tls_root, "GX_FABRIC_* not set: is the stack up?"
    channel = f.grpc_channel()
    cert, key = user_files(user) if user else (f.cert, f.key)
    try:
        yield Gateway(channel, load_identity(f.msp_id, cert), load_signer(key), tls_cert_hash=f.tls_cert_hash())
    finally:
        await channel.close()


def rid(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def submit(gw: Gateway, fn: str, *args: str, tenant: str = TENANT) -> tuple[dict, int]:
    """Submit (``tenant`` first, then ``args``: the requestId and the call's own) and wait for a
    VALID commit; (the chaincode's result, the block). Rejected if the chaincode refused it."""
    result, status = await gw.submit_and_wait(*CC_ARGS, fn, [tenant, *args])
    answer = json.loads(result)
    if answer.get("rejected"):
        raise Rejected(answer, status.block)
    return answer, status.block


async def ensure(gw: Gateway, fn: str, *args: str) -> None:
    """Submit a set-up step that may already have been applied by an earlier run."""
    try:
        await submit(gw, fn, *args)
    except Rejected as e:
        if "already" not in str(e):
            raise


async def wallet(gw: Gateway, wallet_id: str) -> dict:
    return json.loads(await gw.evaluate(*CC_ARGS, "QueryContract:Get", ["wallet", wallet_id]))


async def funded_users(gw: Gateway, n: int, amount: int = 1000, tenant: str = TENANT) -> list[str]:
    """``n`` new users of ``tenant`` (the chaincode lets only their tenant act on them); the first
    holds ``amount`` from the genesis pool, paid once per user."""
    await ensure(gw, "AdminContract:BootstrapSystem", rid("boot"))
    await ensure(gw, "AdminContract:InitializeCountry", rid("country"), "MY", "Malaysia")
    users = [rid("user") for _ in range(n)]
    for u in users:
        await submit(
            gw, "IdentityContract:CreateUser", rid(), u, f"{u}@example.com", "Test", "User", "MY", tenant=tenant
        )
    await submit(gw, "TokenomicsContract:DistributeGenesis", rid(), users[0], "MY", str(amount), tenant=tenant)
    return users


def ledger_blocks(first_block: int, last_block: int) -> list:
    """Every block from ``first_block`` to ``last_block``, parsed, read through the peer's Deliver."""
    import asyncio

    async def go() -> list:
        out = []
        async with gateway() as gw:
            blocks = gw.blocks(CC_ARGS[0], first_block)
            try:
                while True:
                    b = await asyncio.wait_for(anext(blocks), 10)
                    out.append(b)
                    if b.number >= last_block:
                        return out
            finally:
                await blocks.aclose()

    return asyncio.run(go())
