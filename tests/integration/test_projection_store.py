"""Ledger projection batches on the real Postgres: checkpoints, replays, rollbacks, dead letters.

The records are a synthetic event stream (the Fabric network that would emit them is blocked);
what is under test is the fold + checkpoint transaction against the real database.
"""

from __future__ import annotations

import json
import random
import uuid

import psycopg

from bench.ledger_events import ledger_stream
from projections import ledger
from projections.store import Record, apply_batch
from schemas.events import parse_event


def expected(records: list[Record]) -> dict[str, int]:
    """An independent in-memory fold of the whole stream, in per-partition offset order."""
    wallets: dict[str, ledger.Wallet] = {}
    for r in records:
        env, payload = parse_event(r.value)
        upd, _ = ledger.fold(wallets, env, payload)
        wallets.update(upd)
    return {w: x.balance for w, x in wallets.items()}


def balances(dsn: str, prefix: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return {r[0]: int(r[1]) for r in conn.execute('SELECT "walletId", balance FROM "Wallet" WHERE "walletId" LIKE %s',
                                                      (prefix + "-%",)).fetchall()}


def history_count(dsn: str, prefix: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute('SELECT count(*) FROM "TransactionHistory" WHERE "txId" LIKE %s',
                            (prefix + "-%",)).fetchone()[0]


def test_random_batches_with_replays_converge_to_the_same_state(pipeline: dict[str, str]) -> None:
    prefix = f"P{uuid.uuid4().hex[:6]}"
    records = ledger_stream(prefix, users=20, transfers=400)
    want = expected(records)
    rnd = random.Random(3)
    projector = f"ledger-test-{prefix}"
    with psycopg.connect(pipeline["GX_PG_DSN"]) as conn:
        i = 0
        while i < len(records):
            n = rnd.randint(1, 60)
            back = rnd.randint(0, min(i, 30))  # re-deliver some already applied records, as after a crash
            res = apply_batch(conn, projector, "gxchannel", records[i - back:i + n])
            assert res.skipped >= back and not res.dead
            i += n
    assert balances(pipeline["GX_PG_DSN"], prefix) == want
    assert history_count(pipeline["GX_PG_DSN"], prefix) == 20 + 400


def test_checkpoints_rolled_back_replay_to_the_same_state(pipeline: dict[str, str]) -> None:
    prefix = f"Q{uuid.uuid4().hex[:6]}"
    records = ledger_stream(prefix, users=10, transfers=200)
    projector = f"ledger-test-{prefix}"
    dsn = pipeline["GX_PG_DSN"]
    with psycopg.connect(dsn) as conn:
        apply_batch(conn, projector, "gxchannel", records)
        before = balances(dsn, prefix)
        # An older backup of the checkpoints (but not of the data): back to the start.
        conn.execute('UPDATE "ProjectorState" SET "offset" = -1 WHERE "projectorName" = %s', (projector,))
        conn.commit()
        res = apply_batch(conn, projector, "gxchannel", records)
    assert res.applied == 10  # only UserCreated re-applies (idempotent); no balance moves twice
    assert balances(dsn, prefix) == before == expected(records)
    assert history_count(dsn, prefix) == 10 + 200


def test_a_malformed_event_is_dead_lettered_and_the_next_events_apply(pipeline: dict[str, str]) -> None:
    prefix = f"R{uuid.uuid4().hex[:6]}"
    good = ledger_stream(prefix, users=2, transfers=0, partitions=1)
    bad_schema = json.loads(good[-1].value)
    bad_schema["payload"]["amount"] = -5
    unknown = {**json.loads(good[0].value), "name": "DragonSlain"}
    records = [good[0], good[1],
               Record(good[0].topic, 0, 2, json.dumps(bad_schema).encode()),
               Record(good[0].topic, 0, 3, json.dumps(unknown).encode()),
               Record(good[0].topic, 0, 4, b"not json"),
               Record(good[0].topic, 0, 5, good[2].value), Record(good[0].topic, 0, 6, good[3].value)]
    dead: list = []
    with psycopg.connect(pipeline["GX_PG_DSN"]) as conn:
        res = apply_batch(conn, f"ledger-test-{prefix}", "gxchannel", records, on_dead=dead.extend)
        cp = conn.execute('SELECT "offset" FROM "ProjectorState" WHERE "projectorName" = %s',
                          (f"ledger-test-{prefix}",)).fetchone()[0]
    assert [(r.offset, code) for r, code, _ in dead] == [(2, "INVALID_EVENT"), (3, "UNKNOWN_EVENT_TYPE"),
                                                         (4, "INVALID_EVENT")]
    assert "amount: Input should be greater than 0" in dead[0][2]
    assert res.applied == 4 and cp == 6
    assert balances(pipeline["GX_PG_DSN"], prefix) == {f"{prefix}-U0": 1_000_000, f"{prefix}-U1": 1_000_000}
