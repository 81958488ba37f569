"""The projector worker itself (`gxctl run projector-ledger`) on a topic and a database of the test's
own, fed a synthetic but valid event stream: SIGKILL mid-batch, a database error mid-stream, a
database restored from an older backup while it runs, a record the database refuses, and poison
records. Every case must end in exactly the balances the stream implies, each move applied once.

The real-ledger version of these properties is tests/integration/test_read_models.py.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench.ledger_events import ledger_stream
from gxcommon.dlq import read as dlq_read
from gxcommon.dlq_replay import Who, replay
from gxcommon.kafka import Producer
from gxcommon.topics import TopicSettings
from projections.agent import group_id
from projections.model import Record
from tests.integration.db import scalar
from tests.integration.kafka_helpers import TopicReader, last_offsets, wait_committed_past
from tests.integration.scratch import scratch_db, scratch_topic
from tests.integration.workers import Worker
from tests.waiting import wait_until


def produce(bootstrap: str, topic: str, records: list[Record]) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for i, r in enumerate(records):
        p.produce(topic, key=r.key, value=r.value, partition=r.partition)
        if i % 5000 == 0:
            p.poll(0)
    assert p.flush(60) == 0


def state(dsn: str) -> tuple[dict[str, int], int]:
    with psycopg.connect(dsn) as conn:
        w = {r[0]: int(r[1]) for r in conn.execute('SELECT "walletId", balance FROM "Wallet"').fetchall()}
        h = scalar(conn, 'SELECT count(*) FROM "TransactionHistory"')
    return w, h


def alive_state(dsn: str, worker: Worker) -> tuple[dict[str, int], int]:
    """The read models' state, while the worker runs (AssertionError with its log if it exited)."""
    assert worker.alive(), worker.log()[-3000:]
    return state(dsn)


def wait_for(dsn: str, want: tuple[dict[str, int], int], worker: Worker, timeout: float = 240) -> None:
    """Until the read models hold exactly ``want`` (balances, history rows)."""
    wait_until(
        lambda: alive_state(dsn, worker),
        f"{want[1]} history rows and {len(want[0])} wallets",
        until=lambda got: got == want,
        timeout=timeout,
        interval=0.3,
        detail=lambda: f"now {state(dsn)[1]} history rows, {len(state(dsn)[0])} wallets",
    )


def wait_all_written(bootstrap: str, topic: str, app_id: str) -> None:
    """Until the ledger projector has written every record on ``topic`` (its group commits a
    batch's offsets only once the batch is in the database)."""
    wait_committed_past(bootstrap, group_id(app_id, "ledger"), topic, last_offsets(bootstrap, topic), 120)


def test_projector_survives_kill_db_errors_restore_and_poison(pipeline: dict[str, str], tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    bootstrap = pipeline["GX_KAFKA_BOOTSTRAP"]
    with (
        scratch_db(pipeline["GX_PG_DSN"], f"gx_test_{tag}") as dsn,
        scratch_topic(bootstrap, f"gx.test.events-{tag}") as topic,
        scratch_topic(bootstrap, f"gx.test.dlq-{tag}", 1) as dlq,
    ):
        records, balances = ledger_stream(f"K{tag}", users=50, transfers=30000, topic=topic)
        moves = 1 + 50 + (len(records) - 1 - 100)  # supply, genesis, transfers
        want = (balances, moves)
        app_id = f"gx-test-{tag}"
        worker = Worker(
            "projector-ledger",
            app_id,
            tmp_path,
            GX_PG_DSN=dsn,
            GX_TOPIC_FABRIC_EVENTS=topic,
            GX_TOPIC_PROJECTIONS_DLQ=dlq,
            GX_PROJECTOR_BATCH="500",
        )
        # Poison first: not JSON, an unknown type, a bad field, each with its key; and a user the
        # database refuses (a CHECK the test adds), whose records must not hold the others back.
        with psycopg.connect(dsn) as conn:
            conn.execute("""ALTER TABLE "Wallet" ADD CONSTRAINT no_poison CHECK ("walletId" <> 'POISON')""")
        user, user_key = records[5].value, records[5].key  # a UserCreated
        assert user_key is not None
        poison = [
            Record(topic, 0, 0, b"{not json", b"k-json"),
            Record(topic, 1, 0, json.dumps({**json.loads(user), "name": "Minted"}).encode(), b"k-type"),
            Record(topic, 2, 0, user.replace(b'"firstName": "Bench"', b'"firstName": 5'), b"k-field"),
            Record(topic, 3, 0, user.replace(user_key, b"POISON"), b"POISON"),
        ]
        produce(bootstrap, topic, poison)
        produce(bootstrap, topic, records[:15000])
        worker.start()
        try:
            # SIGKILL mid-stream, then a restart resumes from the database's checkpoints.
            wait_until(
                lambda: alive_state(dsn, worker)[1],
                "3000 history rows",
                until=lambda n: n >= 3000,
                timeout=120,
                interval=0.1,
            )
            worker.kill()
            assert state(dsn)[1] < moves, "the kill came too late to prove anything"
            worker.start()
            # A database error mid-stream (the history table is gone for a moment): the batch is
            # retried in place and never acknowledged, so nothing is skipped once it is back.
            retried = worker.log().count("batch not written, retrying")
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute('ALTER TABLE "TransactionHistory" RENAME TO th_away')
                produce(bootstrap, topic, records[15000:])
                wait_until(
                    lambda: worker.log().count("batch not written, retrying"),
                    "a batch refused while the table is away",
                    until=lambda n: n > retried,
                    timeout=60,
                    interval=0.3,
                )
                conn.execute('ALTER TABLE th_away RENAME TO "TransactionHistory"')
            wait_for(dsn, want, worker)
            # The database restored from an older backup while the projector runs: rows and
            # checkpoints go back together; the projector notices on its next batch and replays.
            with psycopg.connect(dsn) as conn:
                snap = {
                    t: conn.execute(f'SELECT * FROM "{t}"').fetchall()
                    for t in ("Wallet", "TransactionHistory", "ProjectorState")
                }
            extra, extra_balances = ledger_stream(
                f"X{tag}", users=5, transfers=200, topic=topic, bootstrap=False, seed=11
            )
            produce(bootstrap, topic, [Record(topic, r.partition, 0, r.value, r.key) for r in extra])
            for w, b in extra_balances.items():
                balances[w] = b
            balances["SYSTEM_USER_GENESIS_POOL"] -= 5 * 1_000_000
            want = (balances, moves + 5 + (len(extra) - 10))
            wait_for(dsn, want, worker)
            with psycopg.connect(dsn) as conn:
                conn.execute('TRUNCATE "Wallet", "TransactionHistory", "ProjectorState"')
                for t, rows in snap.items():
                    if rows:
                        with conn.cursor().copy(f'COPY "{t}" FROM STDIN') as cp:
                            for row in rows:
                                cp.write_row(row)
            produce(bootstrap, topic, [Record(topic, 0, 0, b"{still not json", b"k-json2")])  # wakes it up
            wait_for(dsn, want, worker)
            assert worker.metric("projector_gap_records_replayed_total") > 0
            wait_all_written(bootstrap, topic, app_id)
            assert state(dsn) == want  # every record written, and nothing applied twice
        finally:
            worker.stop()
        reader = TopicReader(bootstrap, dlq, lambda rec: True)
        try:
            dead = reader.read_until(lambda rs: len(rs) >= 5, 60)
        finally:
            reader.close()
        by_key = {d.key: d.headers for d in dead}
        assert by_key["k-json"]["errorCode"] == "INVALID_EVENT"
        assert by_key["k-type"]["errorCode"] == "UNKNOWN_EVENT_TYPE"
        assert by_key["k-field"]["errorCode"] == "INVALID_EVENT" and "firstName" in by_key["k-field"]["reason"]
        assert by_key["POISON"]["errorCode"] == "APPLY_ERROR" and "no_poison" in by_key["POISON"]["reason"]
        assert all(h["sourceTopic"] == topic and h["projector"] == "ledger" for h in by_key.values())
        # Replayed, a dead letter goes back to its own partition with its key (the defect: the key
        # was lost, so a replay landed on another partition than its entity's other events).
        letter = next(d for d in dlq_read(bootstrap, dlq) if d.key == b"k-field")
        scratch = TopicSettings(fabric_events=topic, projections_dlq=dlq)
        who, now = Who("test", "test", "localhost"), datetime.now(UTC)
        done = replay(bootstrap, {}, scratch, dlq, letter.partition, letter.offset, who, now)
        assert done["written"].startswith(f"{topic}[2]@")
        back = TopicReader(bootstrap, topic, lambda rec: rec.key == "k-field" and "replayOf" in rec.headers)
        try:
            (again,) = back.read_until(lambda rs: bool(rs), 30)
        finally:
            back.close()
        assert again.partition == 2 and again.raw == letter.value
