"""The ledger projector agent on the real Kafka and Postgres, fed a synthetic event stream.

(The block publisher that would write these events from Fabric is blocked; see README.) Proves:
events on gx.fabric.events fold into the read models; a projector killed with SIGKILL mid-stream
and restarted ends with the same state (no transfer applied twice); checkpoints rolled back make
it replay to the same state; a malformed event is dead-lettered to gx.projections.dlq and the
events after it still apply.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
from confluent_kafka import Producer

from bench.ledger_events import ledger_stream
from projections import ledger
from schemas.events import parse_event
from tests.integration.conftest import gxctl, stop_process
from tests.integration.kafka_helpers import TopicReader


def start(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gxctl.main", "run", "projector-ledger"],
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT, env=env)


def state(dsn: str, prefix: str) -> tuple[dict[str, int], int]:
    with psycopg.connect(dsn) as conn:
        w = {r[0]: int(r[1]) for r in conn.execute('SELECT "walletId", balance FROM "Wallet" WHERE "walletId" LIKE %s',
                                                   (prefix + "-%",)).fetchall()}
        h = conn.execute('SELECT count(*) FROM "TransactionHistory" WHERE "txId" LIKE %s', (prefix + "-%",)).fetchone()[0]
    return w, h


def test_a_killed_projector_resumes_from_its_own_checkpoints_without_double_applying(
        pipeline: dict[str, str], tmp_path: Path) -> None:
    prefix = f"K{uuid.uuid4().hex[:6]}"
    records = ledger_stream(prefix, users=50, transfers=30000, partitions=6)
    wallets: dict[str, ledger.Wallet] = {}
    for r in records:  # the expected state, folded independently in memory
        wallets.update(ledger.fold(wallets, *parse_event(r.value))[0])
    want = {w: x.balance for w, x in wallets.items()}
    p = Producer({"bootstrap.servers": pipeline["GX_KAFKA_BOOTSTRAP"], "partitioner": "murmur2_random",
                  "linger.ms": 20})
    bad = json.loads(records[60].value)
    bad["payload"]["amount"] = "lots"
    for i, r in enumerate(records):
        env = json.loads(r.value)
        key = env["payload"].get("fromWalletId") or env["payload"].get("userId")
        p.produce("gx.fabric.events", key=key.encode(), value=r.value)
        if i == 100:  # a malformed event early in the stream
            p.produce("gx.fabric.events", key=key.encode(), value=json.dumps(bad).encode())
        if i % 5000 == 0:
            p.flush(30)
    assert p.flush(60) == 0

    env = {**os.environ, "GX_APP_ID": f"gx-test-{prefix}", "GX_PROJECTOR_NAME": f"ledger-{prefix}",
           "GX_PROJECTOR_BATCH": "500"}
    log = tmp_path / "projector.log"
    proc = start(env, log)
    try:
        # Kill it while it is part-way through the stream.
        end = time.monotonic() + 120
        while state(pipeline["GX_PG_DSN"], prefix)[1] < 3000:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < end, "projector made no progress"
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        mid = state(pipeline["GX_PG_DSN"], prefix)[1]
        assert mid < 50 + 30000, "the kill came too late to prove anything"
        proc = start(env, log)
        end = time.monotonic() + 240
        while True:
            got, hist = state(pipeline["GX_PG_DSN"], prefix)
            if got == want and hist == 50 + 30000:
                break
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < end, f"not converged: {hist} history rows, {len(got)} wallets"
            time.sleep(0.5)
        time.sleep(2)  # nothing more arrives, and nothing is applied twice
        assert state(pipeline["GX_PG_DSN"], prefix) == (want, 50 + 30000)
        # The checkpoints restored from an older backup: back to the start. The restarted projector
        # moves its group back to them, replays, and ends in the same state.
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        with psycopg.connect(pipeline["GX_PG_DSN"]) as conn:
            conn.execute('UPDATE "ProjectorState" SET "offset" = -1 WHERE "projectorName" = %s', (f"ledger-{prefix}",))
        proc = start(env, log)
        end = time.monotonic() + 240
        while True:
            with psycopg.connect(pipeline["GX_PG_DSN"]) as conn:
                low = conn.execute('SELECT min("offset") FROM "ProjectorState" WHERE "projectorName" = %s',
                                   (f"ledger-{prefix}",)).fetchone()[0]
            if low is not None and low > 100:
                break
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < end, "the projector did not replay after the rollback"
            time.sleep(0.5)
        assert "database behind Kafka; replaying" in log.read_text()
        assert state(pipeline["GX_PG_DSN"], prefix) == (want, 50 + 30000)
        # Caught up: `gxctl projections status` shows no lag on any partition of this projector.
        end = time.monotonic() + 120
        while True:
            rows = [r for r in json.loads(gxctl("projections", "status", "--json").stdout)
                    if r["projector"] == f"ledger-{prefix}"]
            if len(rows) == 6 and all(r["lag_events"] == 0 and r["lag_ms"] == 0 for r in rows):
                break
            assert time.monotonic() < end, f"still lagging: {rows}"
            assert any(r["lag_events"] > 0 for r in rows), rows  # lag is reported while replaying
            time.sleep(1)
    finally:
        stop_process(proc)
    r = TopicReader(pipeline["GX_KAFKA_BOOTSTRAP"], "gx.projections.dlq", lambda rec: prefix.encode() in rec.raw)
    try:
        dead = r.read_until(lambda rs: bool(rs), 60)
    finally:
        r.close()
    assert dead and dead[0].headers["errorCode"] == "INVALID_EVENT"
    assert "amount" in dead[0].headers["reason"] and dead[0].headers["sourceTopic"] == "gx.fabric.events"
