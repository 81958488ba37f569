"""A synthetic, valid ledger event stream (users, genesis, transfers) as gx.fabric.events records.

For the projection benchmark and tests: the events a correct chaincode would emit for such a
workload, with offsets per partition as Kafka would assign them (key = the entity).
"""

from __future__ import annotations

import json
import random
import zlib
from datetime import UTC, datetime, timedelta

from projections.store import Record

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def ledger_stream(prefix: str, users: int, transfers: int, partitions: int = 6, topic: str = "gx.fabric.events",
                  seed: int = 7) -> list[Record]:
    rnd = random.Random(seed)
    ids = [f"{prefix}-U{i}" for i in range(users)]
    balances = dict.fromkeys(ids, 0)
    events: list[tuple[str, str, dict]] = []
    for u in ids:
        events.append((u, "UserCreated", {"userId": u, "email": f"{u.lower()}@example.com", "firstName": "Bench",
                                          "lastName": "User", "country": "MY"}))
    for u in ids:
        events.append((u, "GenesisDistributed", {"userId": u, "countryCode": "MY", "amount": 1_000_000}))
        balances[u] += 1_000_000
    for _ in range(transfers):
        a, b = rnd.sample(ids, 2)
        n = rnd.randint(1, 100)
        events.append((a, "TokensTransferred", {"fromWalletId": a, "toWalletId": b, "amount": n, "memo": ""}))
    offsets = [0] * partitions
    out = []
    for i, (key, name, payload) in enumerate(events):
        p = zlib.crc32(key.encode()) % partitions
        env = {"channel": "gxchannel", "block": i // 50, "txId": f"{prefix}-tx{i}", "txIndex": i % 50, "eventIndex": 0,
               "name": name, "payload": {"schemaVersion": 1, "requestId": f"{prefix}-r{i}", **payload},
               "commitTime": (EPOCH + timedelta(milliseconds=i)).isoformat(), "schemaVersion": 1,
               "requestId": f"{prefix}-r{i}"}
        out.append(Record(topic, p, offsets[p], json.dumps(env).encode()))
        offsets[p] += 1
    return out
