"""Benchmark: the direct Python Gateway client against the local Fabric network (no Kafka), the ceiling
the pipeline is measured against.

    .venv/bin/python -m bench.fabric_ceiling [--levels 1,50,500] [--seconds 20] [--connections 4]

Needs `gxctl stack up`. A closed loop per level: ``in_flight`` workers, each endorsing, submitting
and awaiting the commit of one TransferTokens at a time between its own two wallets (read-modify-
write of two keys, no conflicts between workers). Reports transactions per second, submit-to-commit
and whole-call p50/p99, errors, and CPU milliseconds per transaction of the peer, the orderer, the
chaincode and this client, with the block settings read from the channel's genesis block.
Prints a table and writes JSON to bench/results/. ``measure`` and ``prepare`` are importable, so the
end-to-end benchmark can run the ceiling in the same session.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from fabric_protos.common import common_pb2, configtx_pb2
from fabric_protos.orderer import configuration_pb2

from bench.common import pct, positive, positive_list, save, table
from fabric_gateway import Gateway, GatewayError, load_identity
from gxcommon.fabric_settings import FabricSettings
from stack.manager import Stack

FABRIC_PROCS = ("peer", "orderer", "chaincode")


def block_settings(genesis: Path) -> dict[str, Any]:
    """BatchTimeout and BatchSize from a channel's genesis (config) block."""
    block = common_pb2.Block.FromString(genesis.read_bytes())
    payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(block.data.data[0]).payload)
    values = configtx_pb2.ConfigEnvelope.FromString(payload.data).config.channel_group.groups["Orderer"].values
    size = configuration_pb2.BatchSize.FromString(values["BatchSize"].value)
    return {
        "batch_timeout": configuration_pb2.BatchTimeout.FromString(values["BatchTimeout"].value).timeout,
        "max_message_count": size.max_message_count,
        "preferred_max_bytes": size.preferred_max_bytes,
    }


@dataclass
class Clients:
    """Several gRPC connections (one HTTP/2 connection caps throughput) sharing one identity."""

    gateways: list[Gateway]
    channels: list[Any] = field(default_factory=list)

    @classmethod
    def open(cls, f: FabricSettings, n: int) -> Clients:
        assert f.gateway and f.cert and f.key
        identity, signer = load_identity(f.msp_id, f.cert), f.signer()
        channels = [f.grpc_channel() for _ in range(n)]
        return cls([Gateway(c, identity, signer, tls_cert_hash=f.tls_cert_hash()) for c in channels], channels)

    async def close(self) -> None:
        for c in self.channels:
            await c.close()


TENANT = "bench"  # the chaincode keys each command by (tenant, requestId)


class Rejected(Exception):
    """The chaincode refused the command (and recorded its rejection)."""


def _rejection(result: bytes) -> str | None:
    try:
        rejected = json.loads(result).get("rejected")
    except (ValueError, AttributeError):
        return None
    return f"{rejected.get('code')}: {rejected.get('message')}" if rejected else None


async def _submit(gw: Gateway, fn: str, args: list[str], tenant: str = TENANT) -> int:
    """Submit one command (``tenant`` is put first) and wait; Rejected if the chaincode refused it."""
    result, status = await gw.submit_and_wait("gxchannel", "gxtv3", fn, [tenant, *args])
    if (why := _rejection(result)) is not None:
        raise Rejected(why)
    return status.block


async def _bounded(n: int, jobs: list[tuple[Gateway, str, list[str]]], tenant: str = TENANT) -> None:
    sem = asyncio.Semaphore(n)

    async def one(gw: Gateway, fn: str, args: list[str]) -> None:
        async with sem:
            await _submit(gw, fn, args, tenant)

    await asyncio.gather(*(one(*j) for j in jobs))


def funded_pairs(
    settings: FabricSettings, pairs: int, funds: int = 10**9, connections: int = 4, tenant: str = TENANT
) -> list[tuple[str, str]]:
    """:func:`prepare` on ``connections`` gateway connections of its own, closed after."""

    async def run() -> list[tuple[str, str]]:
        clients = Clients.open(settings, connections)
        try:
            return await prepare(clients, pairs, funds=funds, tenant=tenant)
        finally:
            await clients.close()

    return asyncio.run(run())


async def prepare(clients: Clients, pairs: int, funds: int = 10**9, tenant: str = TENANT) -> list[tuple[str, str]]:
    """``pairs`` (sender, receiver) wallets of ``tenant``, each sender funded from the genesis pool.

    Users and wallets belong to the tenant that made them (the chaincode refuses any other
    tenant's command on them: OTHER_TENANT), so whoever spends the pairs makes them in its own
    tenant. The system's set-up (bootstrap, the bench's country, the genesis cap) has no tenant."""
    gw = clients.gateways[0]
    for fn, args in (("AdminContract:BootstrapSystem", []), ("AdminContract:InitializeCountry", ["BN", "Bench"])):
        try:
            await _submit(gw, fn, [f"bench-{uuid.uuid4().hex}", *args])
        except Rejected as e:
            if "already" not in str(e):
                raise
    run = uuid.uuid4().hex[:8]
    out = [(f"bench-{run}-{i}-a", f"bench-{run}-{i}-b") for i in range(pairs)]
    gws = clients.gateways
    users = [
        (
            gws[i % len(gws)],
            "IdentityContract:CreateUser",
            [f"bench-{uuid.uuid4().hex}", u, f"{u}@bench.io", "B", "User", "BN"],
        )
        for i, u in enumerate(u for pair in out for u in pair)
    ]
    await _bounded(200, users, tenant)
    # Every genesis distribution writes the pool wallet (they would conflict), so fund one sender
    # from the pool and double the funded set each round: log2(pairs) rounds of parallel transfers.
    senders = [a for a, _ in out]
    # One genesis payment funds them all: above the ledger's default genesisMaxPerUser, so the
    # bench raises that cap on its ledger first (an administrative command; the bench's identity
    # has the scope all).
    await _submit(
        gw,
        "AdminContract:UpdateSystemParameter",
        [f"bench-{uuid.uuid4().hex}", "genesisMaxPerUser", str(min(funds * len(senders), 62_500_000_000_000))],
    )
    await _submit(
        gw,
        "TokenomicsContract:DistributeGenesis",
        [f"bench-{uuid.uuid4().hex}", senders[0], "BN", str(funds * len(senders))],
        tenant,
    )
    balance = {senders[0]: funds * len(senders)}
    while len(balance) < len(senders):
        rich = list(balance)
        todo = senders[len(rich) : len(rich) * 2]
        jobs = []
        for i, (src, dst) in enumerate(zip(rich, todo)):
            share = balance[src] // 2
            balance[src] -= share
            balance[dst] = share
            jobs.append(
                (
                    gws[i % len(gws)],
                    "TokenomicsContract:TransferTokens",
                    [f"bench-{uuid.uuid4().hex}", src, dst, str(share), "fund"],
                )
            )
        await _bounded(200, jobs, tenant)
    return out


def fabric_nodes(rows: dict[str, int | None]) -> list[str]:
    """The Fabric processes of a status: the single network's (peer, orderer, chaincode) or the HA
    topology's (orderer0-2, peer0-org1, ..., chaincode)."""
    ha = sorted(n for n in rows if n.startswith(("orderer", "peer")) and n not in ("orderer", "peer"))
    return [*ha, "chaincode"] if ha else list(FABRIC_PROCS)


def fabric_pids() -> dict[str, int]:
    rows = {r["component"]: r["pid"] for r in Stack().status()}
    names = fabric_nodes(rows)
    missing = [n for n in names if not rows.get(n)]
    if missing:
        raise SystemExit(f"error: {', '.join(missing)} not running; start the stack: gxctl stack up")
    return {n: int(rows[n] or 0) for n in names} | {"client": os.getpid()}


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        try:
            t = psutil.Process(pid).cpu_times()
            out[name] = t.user + t.system
        except psutil.Error:
            out[name] = 0.0
    return out


async def measure(
    clients: Clients, pairs: list[tuple[str, str]], in_flight: int, seconds: float, pids: dict[str, int]
) -> dict[str, Any]:
    """One closed-loop level; ``pairs`` must hold at least ``in_flight`` pairs."""
    assert len(pairs) >= in_flight
    commit_ms: list[float] = []
    call_ms: list[float] = []
    errors: dict[str, int] = {}
    stop_at = time.monotonic() + seconds

    async def worker(i: int) -> None:
        gw = clients.gateways[i % len(clients.gateways)]
        a, b = pairs[i]
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            try:
                tx = await gw.endorse(
                    "gxchannel",
                    "gxtv3",
                    "TokenomicsContract:TransferTokens",
                    [TENANT, f"bench-{uuid.uuid4().hex}", a, b, "1", ""],
                )
                t1 = time.perf_counter()
                await gw.submit(tx)
                (await gw.commit_status(tx)).raise_for_status()
                if _rejection(tx.result):
                    errors["REJECTED"] = errors.get("REJECTED", 0) + 1
                    continue
            except GatewayError as e:
                key = getattr(e, "validation_code", None) or (e.code.name if e.code else type(e).__name__)
                errors[key] = errors.get(key, 0) + 1
                continue
            t2 = time.perf_counter()
            commit_ms.append((t2 - t1) * 1000)
            call_ms.append((t2 - t0) * 1000)

    c0, t0 = _cpu(pids), time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(in_flight)))
    elapsed = time.monotonic() - t0
    c1 = _cpu(pids)
    n = len(call_ms)
    row: dict[str, Any] = {
        "in_flight": in_flight,
        "seconds": round(elapsed, 1),
        "tx": n,
        "tx_per_s": round(n / elapsed, 1),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "commit_p50_ms": pct(commit_ms, 50),
        "commit_p99_ms": pct(commit_ms, 99),
        "call_p50_ms": pct(call_ms, 50),
        "call_p99_ms": pct(call_ms, 99),
    }
    for name in pids:
        row[f"{name}_cpu_ms_per_tx"] = round(1000 * (c1[name] - c0[name]) / n, 2) if n else None
    cores = psutil.cpu_count() or 1  # None when the count cannot be read
    row["cpu_busy_pct_of_machine"] = round(100 * sum(c1[k] - c0[k] for k in pids) / elapsed / cores, 1)
    return row


async def run_ceiling(levels: list[int], seconds: float, connections: int = 4) -> dict[str, Any]:
    """Every level in one session; returns the rows, the block settings and the best tx/s."""
    stack = Stack()
    pids = fabric_pids()
    clients = Clients.open(FabricSettings(**fabric_settings_from(stack)), connections)
    try:
        pairs = await prepare(clients, max(levels))
        rows = [await measure(clients, pairs, n, seconds, pids) for n in levels]
    finally:
        await clients.close()
    return {
        "block_settings": block_settings(stack.fabric.paths.genesis_block),
        "connections": connections,
        "workload": "TokenomicsContract:TransferTokens, one pair of wallets per worker",
        "levels": rows,
        "ceiling_tx_per_s": max(r["tx_per_s"] for r in rows),
    }


def fabric_settings_from(stack: Stack) -> dict[str, Any]:
    env = stack.env()
    keys = {
        "GX_FABRIC_GATEWAY": "gateway",
        "GX_FABRIC_CERT": "cert",
        "GX_FABRIC_KEY": "key",
        "GX_FABRIC_TLS_ROOT": "tls_root",
        "GX_FABRIC_MSP_ID": "msp_id",
        "GX_FABRIC_TLS_CERT": "tls_cert",
        "GX_FABRIC_TLS_KEY": "tls_key",
    }
    if "GX_FABRIC_GATEWAY" not in env:
        raise SystemExit("error: the Fabric network has not been created; start the stack: gxctl stack up")
    return {field_name: env[k] for k, field_name in keys.items() if k in env}


COLUMNS = [
    "in_flight",
    "tx_per_s",
    "errors",
    "commit_p50_ms",
    "commit_p99_ms",
    "call_p50_ms",
    "call_p99_ms",
    "peer_cpu_ms_per_tx",
    "orderer_cpu_ms_per_tx",
    "chaincode_cpu_ms_per_tx",
    "client_cpu_ms_per_tx",
    "cpu_busy_pct_of_machine",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--levels", type=positive_list(int), default=[1, 50, 500], help="transactions in flight, comma-separated"
    )
    ap.add_argument("--seconds", type=positive(), default=20.0, help="duration of each level")
    ap.add_argument("--connections", type=positive(int), default=4, help="gRPC connections to the peer")
    a = ap.parse_args()
    result = asyncio.run(run_ceiling(a.levels, a.seconds, a.connections))
    bs = result["block_settings"]
    print(
        f"Fabric ceiling, direct client: BatchTimeout {bs['batch_timeout']}, MaxMessageCount "
        f"{bs['max_message_count']}, {result['connections']} connections, {result['workload']}"
    )
    print(table(result["levels"], COLUMNS))
    print(f"results: {save('fabric_ceiling', result)}")


if __name__ == "__main__":
    main()
