"""A synthetic, valid ledger event stream as the block publisher would write it to gx.fabric.events.

Bootstrap, one country, users, genesis distributions, then random transfers between users, with
blocks of 50 transactions, keys and partitions by the publisher's own rule
(schemas.events.event_key / partition_for) and offsets per partition as Kafka assigns them. For the
projection benchmark and tests; :func:`ledger_stream` also returns the balances the stream must
produce, computed here independently of any projection code.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from projections.model import Record
from schemas.events import event_key, partition_for

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
POOL = "SYSTEM_USER_GENESIS_POOL"
SUPPLY = 10**15


def ledger_stream(
    prefix: str,
    users: int,
    transfers: int,
    partitions: int = 6,
    topic: str = "gx.fabric.events",
    seed: int = 7,
    bootstrap: bool = True,
) -> tuple[list[Record], dict[str, int]]:
    """(records in publish order, expected balance per wallet). Ids start with ``prefix``."""
    rnd = random.Random(seed)
    ids = [f"{prefix}-U{i}" for i in range(users)]
    balances = dict.fromkeys(ids, 0)
    events: list[tuple[str, dict[str, Any]]] = []
    if bootstrap:
        events.append(
            ("SystemBootstrapped", {"poolWalletId": POOL, "supply": SUPPLY, "parameters": {"velocityTaxBps": "100"}})
        )
        balances[POOL] = SUPPLY
    for u in ids:
        events.append(
            (
                "UserCreated",
                {
                    "userId": u,
                    "email": f"{u.lower()}@example.com",
                    "firstName": "Bench",
                    "lastName": "User",
                    "country": "MY",
                },
            )
        )
    for u in ids:
        events.append(("GenesisDistributed", {"userId": u, "countryCode": "MY", "amount": 1_000_000}))
        balances[u] += 1_000_000
        if POOL in balances:
            balances[POOL] -= 1_000_000
    for _ in range(transfers):
        a, b = rnd.sample(ids, 2)
        n = rnd.randint(1, 100)
        if balances[a] < n:
            continue
        balances[a] -= n
        balances[b] += n
        events.append(("TokensTransferred", {"fromWalletId": a, "toWalletId": b, "amount": n, "memo": ""}))
    offsets = [0] * partitions
    out = []
    for i, (name, payload) in enumerate(events):
        full = {"schemaVersion": 1, "requestId": f"{prefix}-r{i}", **payload}
        key = event_key(name, full)
        p = partition_for(key, partitions)
        env = {
            "channel": "gxchannel",
            "block": i // 50,
            "txId": f"{prefix}-tx{i}",
            "txIndex": i % 50,
            "eventIndex": 0,
            "name": name,
            "payload": full,
            "commitTime": (EPOCH + timedelta(milliseconds=i)).isoformat(),
            "schemaVersion": 1,
            "requestId": f"{prefix}-r{i}",
        }
        out.append(Record(topic, p, offsets[p], json.dumps(env).encode(), key.encode()))
        offsets[p] += 1
    return out, balances
