"""Benchmark: a burst of genesis distributions, the commands that all debit the genesis pool.

    .venv/bin/python -m bench.hot_keys [--n 1000] [--modes shard,recipient]

Needs `gxctl up` (finds the local stack by itself). Creates ``n`` fresh users per mode (straight
through the gateway), then produces ``n`` DISTRIBUTE_GENESIS commands of 1 at once to gx.commands
(as a service without a database would) and follows their results:

- ``shard``: keyed as the pipeline keys them (schemas.routing: the pool's shard of the recipient,
  ``genesis-<shard>``): distributions of one shard reach Fabric one at a time, different shards
  touch no common key;
- ``recipient``: keyed by the recipient, as before issue 21: all run at once, and those on one
  shard of the pool conflict (MVCC) and are retried.

Reports per mode: the time from the first record to the last final result, failed commands, the
attempts and MVCC conflicts the attempt logs show. JSON to bench/results/hot_keys-<time>.json and a
table. The chaincode itself (one pool key before issue 21, 16 shards since) is the same in both
modes: the single-key chaincode is not run here.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import positive, save, table
from schemas.permissions import service_of

MODES = ("shard", "recipient")


async def make_users(n: int, prefix: str) -> list[str]:
    from bench.fabric_ceiling import Clients, _bounded, prepare
    from gxcommon.fabric_settings import FabricSettings

    clients = Clients.open(FabricSettings(), 4)
    try:
        await prepare(clients, 1)  # bootstrap and the bench's country, if not there yet
        users = [f"{prefix}-{i}" for i in range(n)]
        gws = clients.gateways
        await _bounded(
            200,
            [
                (
                    gws[i % len(gws)],
                    "IdentityContract:CreateUser",
                    [f"hk-{uuid.uuid4().hex}", u, f"{u}@bench.io", "B", "User", "BN"],
                )
                for i, u in enumerate(users)
            ],
        )
        return users
    finally:
        await clients.close()


def burst(bootstrap: str, topic: str, results_topic: str, users: list[str], mode: str) -> dict[str, Any]:
    from confluent_kafka import Consumer

    from bench.fabric_ceiling import TENANT
    from gxsdk.produce import command_producer
    from schemas.envelopes import CommandEnvelope, parse_result
    from schemas.routing import partition_key

    # The users were made in the bench's tenant (make_users), and a command acts only on its own
    # tenant's users (the chaincode's tenant rule): this burst is told apart by its requestIds.
    tenant = TENANT
    burst_id = f"hotkeys-{mode}-{uuid.uuid4().hex[:6]}"
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4()}",
            "auto.offset.reset": "latest",
            "enable.auto.commit": False,
        }
    )
    c.subscribe([results_topic])
    while not c.assignment():
        c.poll(0.2)
    p = command_producer(bootstrap)
    t0 = time.time()
    for i, u in enumerate(users):
        payload = {"userId": u, "countryCode": "BN", "amount": 1}
        key = partition_key("DISTRIBUTE_GENESIS", payload) if mode == "shard" else u
        env = CommandEnvelope(
            id=str(uuid.uuid4()),
            tenantId=tenant,
            service=service_of("DISTRIBUTE_GENESIS"),
            commandType="DISTRIBUTE_GENESIS",
            requestId=f"{burst_id}-{i}",
            payload=payload,
            key=key,
            createdAt=datetime.now(UTC),
        )
        p.produce(topic, key=key.encode(), value=env.model_dump_json().encode(), headers=list(env.headers()))
        p.poll(0)
    p.flush(60)
    finals: dict[str, Any] = {}
    deadline = time.time() + 600
    last = t0
    while len(finals) < len(users) and time.time() < deadline:
        for m in c.consume(500, 0.5):
            if m.error() or burst_id.encode() not in (value := m.value() or b""):
                continue
            r = parse_result(value)
            mine = r.tenantId == tenant and r.requestId.startswith(burst_id)
            if mine and r.status.final and r.requestId not in finals:
                finals[r.requestId] = r
                last = time.time()
    c.close()
    conflicts = sum(1 for r in finals.values() for a in r.attemptLog if a.code == "MVCC_READ_CONFLICT")
    statuses = Counter(
        r.status.value if r.status.value == "CONFIRMED" else f"{r.status.value}:{r.errorCode}" for r in finals.values()
    )
    return {
        "mode": mode,
        "commands": len(users),
        "finals": len(finals),
        "seconds": round(last - t0, 1),
        "per_s": round(len(finals) / max(0.001, last - t0), 1),
        "failed": len(users) - statuses["CONFIRMED"],
        "mvcc_conflicts": conflicts,
        "max_attempts": max((r.attempts for r in finals.values()), default=0),
        "statuses": dict(statuses),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=positive(int), default=1000)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--out", type=Path, default=None, help="folder for the JSON result (default bench/results)")
    a = ap.parse_args(argv)
    unknown = [m for m in a.modes.split(",") if m not in MODES]
    if unknown:
        ap.error(f"--modes: unknown {', '.join(unknown)}; known: {', '.join(MODES)}")
    from stack.discover import use_local_stack

    use_local_stack()
    from gxcommon.settings import connection_settings
    from gxcommon.topics import TopicSettings

    s, t = connection_settings(), TopicSettings()
    s.require("kafka_bootstrap")
    runs = []
    for mode in a.modes.split(","):
        users = asyncio.run(make_users(a.n, f"hk-{mode}-{uuid.uuid4().hex[:6]}"))
        print(f"{mode}: {a.n} distributions in a burst", flush=True)
        runs.append(burst(s.kafka_bootstrap or "", t.commands, t.command_results, users, mode))
    path = save("hot_keys", {"n": a.n, "runs": runs}, out=a.out)
    print(table(runs, ["mode", "commands", "finals", "seconds", "per_s", "failed", "mvcc_conflicts", "max_attempts"]))
    print(f"results: {path}")
    return 0 if all(r["failed"] == 0 and r["finals"] == r["commands"] for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
