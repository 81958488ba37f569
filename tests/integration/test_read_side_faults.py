"""Issue 32 on the real services: nothing a producer or the ledger can say stops the read side.

On a topic and a database of the test's own (synthetic events, as the block publisher writes them):

- the projectors (all six groups in one worker) meet an organisation named with a NUL (psycopg
  refuses it client-side, with no SQLSTATE), a user whose 1,000-character CJK id makes an index row
  too large for Postgres (54000), and an event of an unknown type at the publisher's size limit
  (every group dead-letters it): each is dead-lettered with its reason, and every group's lag on
  every partition comes back to 0 (defects 1, 2, 3, 9);
- the dead-letter sender on the real broker: a dead letter of an event at the publisher's limit
  fits whole, and one the broker refuses (its topic too small) goes again as a reference instead
  of counting as sent (defects 3, 4).
"""

from __future__ import annotations

import json
import random
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from gxcommon.kafka import Producer
from gxcommon.record_limits import MAX_EVENT_BYTES, MAX_RECORD_BYTES
from projections.groups import GROUPS
from projections.kafka_io import DeadLetterSender
from projections.model import DeadLetter, Record
from schemas.events import event_key, partition_for
from tests.integration.kafka_helpers import Rec, TopicReader
from tests.integration.scratch import scratch_db, scratch_topic
from tests.integration.workers import Worker
from tests.waiting import wait_until

T0 = "2026-12-01T00:00:00+00:00"


def envelope(name: str, payload: dict[str, Any], block: int, pad_to: int = 0, tx_id: str | None = None) -> bytes:
    """An event envelope as the block publisher writes it (``tx_id``: unique on a shared topic, where
    no test may leave two records of one event)."""
    body: dict[str, Any] = {"schemaVersion": 2, "requestId": f"r{block}", **payload}
    env: dict[str, Any] = {
        "channel": "gxchannel",
        "block": block,
        "txId": tx_id or f"tx{block}",
        "txIndex": 0,
        "eventIndex": 0,
        "name": name,
        "payload": body,
        "commitTime": T0,
        "schemaVersion": 2,
        "requestId": f"r{block}",
    }
    raw = json.dumps(env).encode()
    if pad_to:
        body["blob"] = "x" * (pad_to - len(raw) - len(', "blob": ""'))
        raw = json.dumps(env).encode()
    return raw


def cjk(n: int, seed: int) -> str:
    """``n`` random CJK ideographs: 3 bytes each in UTF-8, and nothing Postgres could compress."""
    rnd = random.Random(seed)
    return "".join(chr(rnd.randint(0x4E00, 0x9FFF)) for _ in range(n))


def user(uid: str) -> dict[str, Any]:
    return {"userId": uid, "email": "u@example.com", "firstName": "A", "lastName": "B", "country": "MY"}


def produce(bootstrap: str, topic: str, events: list[tuple[str, dict[str, Any], int]], partitions: int = 6) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": MAX_RECORD_BYTES})
    for name, payload, pad in events:
        block = next(BLOCKS)
        key = event_key(name, payload)
        p.produce(
            topic,
            key=key.encode(),
            value=envelope(name, payload, block, pad),
            partition=partition_for(key, partitions),
        )
    assert p.flush(60) == 0


BLOCKS = iter(range(1, 10**6))


def checkpoints(dsn: str) -> dict[tuple[str, int], int]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute('SELECT "projectorName", "partition", "offset" FROM "ProjectorState"').fetchall()
    return {(n, p): o for n, p, o in rows}


def ends(bootstrap: str, topic: str) -> dict[int, int]:
    """The last offset holding a record, per partition (this producer writes no transactions)."""
    from confluent_kafka import TopicPartition

    from gxcommon.kafka import Consumer

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4()}"})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] - 1 for p in parts}
    finally:
        c.close()


def test_bad_events_are_dead_lettered_with_their_reason_and_every_group_catches_up(
    pipeline: dict[str, str], tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    bootstrap = pipeline["GX_KAFKA_BOOTSTRAP"]
    long_id = cjk(1000, seed=32)
    with (
        scratch_db(pipeline["GX_PG_DSN"], f"gx_test_{tag}") as dsn,
        scratch_topic(bootstrap, f"gx.test.events-{tag}", config={"max.message.bytes": str(MAX_RECORD_BYTES)}) as topic,
        scratch_topic(bootstrap, f"gx.test.dlq-{tag}", 1, config={"max.message.bytes": str(MAX_RECORD_BYTES)}) as dlq,
    ):
        produce(
            bootstrap,
            topic,
            [
                ("UserCreated", user("alice"), 0),
                ("OrganizationProposed", {"orgId": "org-nul", "name": "Ac\x00me", "proposerId": "alice"}, 0),
                ("OrganizationProposed", {"orgId": "org-ok", "name": "Fine Co", "proposerId": "alice"}, 0),
                ("UserCreated", user(long_id), 0),
                ("Minted", {"walletId": "alice"}, MAX_EVENT_BYTES),
                ("UserCreated", user("bob"), 0),
                ("MembershipEndorsed", {"orgId": "org-nul", "userId": "bob"}, 0),
            ],
        )
        worker = Worker(
            "projectors",
            f"gx-test-{tag}",
            tmp_path,
            GX_PG_DSN=dsn,
            GX_TOPIC_FABRIC_EVENTS=topic,
            GX_TOPIC_PROJECTIONS_DLQ=dlq,
        ).start()
        try:
            last = {p: o for p, o in ends(bootstrap, topic).items() if o >= 0}
            want = {(g, p): o for g in GROUPS for p, o in last.items()}
            end = time.monotonic() + 120
            while {k: v for k, v in checkpoints(dsn).items() if k in want} != want:
                assert worker.alive(), worker.log()[-3000:]
                behind = sorted(set(want.items()) - set(checkpoints(dsn).items()))
                assert time.monotonic() < end, f"not caught up: {behind}\n{worker.log()[-3000:]}"
                time.sleep(0.2)
            # And `projections status` says so, for every group and every partition with records.
            from projections.status import status

            rows = status(dsn, bootstrap, topic)
            assert {(r["projector"], r["partition"]) for r in rows} >= set(want)
            assert [r for r in rows if r["lag_events"] != 0] == []
        finally:
            worker.stop()
        with psycopg.connect(dsn) as conn:
            assert conn.execute('SELECT "orgId" FROM "Organization" ORDER BY 1').fetchall() == [("org-ok",)]
            assert conn.execute('SELECT "userId" FROM "User" ORDER BY 1').fetchall() == [("alice",), ("bob",)]
        reader = TopicReader(bootstrap, dlq, lambda rec: True)
        try:
            dead = reader.read_until(lambda rs: len(rs) >= 9, 60)
        finally:
            reader.close()

        def of(pred: Any) -> list[Rec]:
            return [d for d in dead if pred(d)]

        nul = of(lambda d: d.key == "org-nul")
        assert [(d.headers["projector"], d.headers["errorCode"]) for d in nul] == [("organizations", "APPLY_ERROR")]
        assert "NUL" in nul[0].headers["reason"] and nul[0].headers["sourceTopic"] == topic
        long = of(lambda d: d.key == long_id)
        assert sorted(d.headers["projector"] for d in long) == ["identity", "ledger"]
        assert all("[54000]" in d.headers["reason"] and d.headers["errorCode"] == "APPLY_ERROR" for d in long)
        big = of(lambda d: d.headers.get("errorCode") == "UNKNOWN_EVENT_TYPE")
        assert sorted(d.headers["projector"] for d in big) == sorted(GROUPS)
        assert all(len(d.raw) > MAX_EVENT_BYTES - 100 and "valueOmitted" not in d.headers for d in big)
        assert "batch not written, retrying" not in worker.log()  # nothing of this was blamed on the database


def test_dead_letters_at_the_size_limit_fit_and_what_the_broker_refuses_goes_as_a_reference(
    pipeline: dict[str, str],
) -> None:
    tag = uuid.uuid4().hex[:8]
    bootstrap = pipeline["GX_KAFKA_BOOTSTRAP"]
    with (
        scratch_topic(bootstrap, f"gx.test.dlq-{tag}", 1) as dlq,  # the broker's default record limit
        scratch_topic(bootstrap, f"gx.test.small-dlq-{tag}", 1, config={"max.message.bytes": "100000"}) as small,
    ):
        at_limit = envelope("Minted", {"walletId": "w"}, 7, MAX_EVENT_BYTES)
        DeadLetterSender(bootstrap, dlq, "ledger")(
            [DeadLetter(Record("gx.fabric.events", 3, 17, at_limit, b"w"), "UNKNOWN_EVENT_TYPE", "unknown 'Minted'")]
        )
        bigger = envelope("Minted", {"walletId": "v"}, 8, 200_000)
        DeadLetterSender(bootstrap, small, "ledger")(
            [DeadLetter(Record("gx.fabric.events", 4, 18, bigger, b"v"), "UNKNOWN_EVENT_TYPE", "unknown 'Minted'")]
        )
        whole = TopicReader(bootstrap, dlq, lambda rec: True)
        ref = TopicReader(bootstrap, small, lambda rec: True)
        try:
            [w] = whole.read_until(lambda rs: bool(rs), 30)
            [r] = ref.read_until(lambda rs: bool(rs), 30)
        finally:
            whole.close()
            ref.close()
        assert w.raw == at_limit and w.headers["txId"] == "tx7" and w.headers["sourceOffset"] == "17"
        assert r.headers["valueOmitted"] == str(len(bigger)) and r.key == "v"
        assert r.value["reference"] == {"topic": "gx.fabric.events", "partition": 4, "offset": 18}
        assert r.value["txId"] == "tx8" and r.value["errorCode"] == "UNKNOWN_EVENT_TYPE"


# -- on the real pipeline (`gxctl up`): the ledger, the publisher and the six groups ----------------


def story(dsn: str, run: str, tenant: str, timeout: float = 180) -> dict[str, str]:
    """The demo's story (stack.demo) through the outbox, stage by stage, each final before the
    next (the ledger enforces an order across aggregates); returns step name -> requestId."""
    from gxsdk import enqueue
    from stack.demo import RAW, stages

    rids: dict[str, str] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        ended = time.monotonic()
        for _, steps in stages(run)[:-1]:  # not the pause: it would stop every other writer
            after = max((st.after for st in steps), default=0.0)  # a proposal's voting period, as the demo waits
            start_at = ended + after
            wait_until(time.monotonic, "the stage's wait", until=start_at.__le__, timeout=after + 5)
            mine = []
            for st in steps:
                rid = f"{tenant}-{run}-{st.name}"
                if st.raw:
                    conn.execute(RAW, (rid, tenant, "svc-legacy", st.ctype, rid, json.dumps(st.payload)))
                else:
                    enqueue(
                        conn,
                        tenant_id=tenant,
                        service="svc-test",
                        command_type=st.ctype,
                        request_id=rid,
                        payload=st.payload,
                    )
                rids[st.name] = rid
                mine.append(rid)
            end = time.monotonic() + timeout
            while True:
                n = conn.execute(
                    'SELECT count(*) FROM "OutboxCommand" WHERE "tenantId" = %s AND "requestId" = ANY(%s)'
                    " AND status IN ('CONFIRMED', 'FAILED')",
                    (tenant, mine),
                ).fetchone()
                if n is not None and n[0] == len(mine):
                    ended = time.monotonic()
                    break
                assert time.monotonic() < end, f"stage not final: {mine}"
                time.sleep(0.2)
    return rids


def verify_json(settle: float = 60) -> list[dict[str, Any]]:
    from tests.integration.conftest import gxctl

    proc = gxctl("verify", "--json", "--settle", str(settle), check=False)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def test_dead_letters_that_no_replay_can_repair_are_named_by_wait_and_repaired_from_the_ledger(
    up: dict[str, str],
) -> None:
    """Defects 7 and 8, with the database refusing three events of a story (a CHECK the test adds,
    as a schema mistake would): a loan application (its approval then a no-op), a proposal (its
    votes then counted against nothing) and an organisation's activation (the auth rule after it
    moves the row's position past it, so a replay would be refused by the guard). `projections
    wait` names the dead-lettered event and fails; `projections repair` makes every read model
    equal to the ledger again."""
    from tests.integration.conftest import gxctl

    dsn, run, tenant = up["GX_PG_DSN"], uuid.uuid4().hex[:6], "rs-repair"
    checks = {
        "Loan": f"CHECK (\"loanId\" <> 'loan-{run}')",
        "Proposal": f"CHECK (\"proposalId\" <> 'prop-{run}')",
        "Organization": f"CHECK (NOT (\"orgId\" = 'org-{run}' AND status = 'ACTIVE'))",
    }
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table, check in checks.items():
            conn.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT gx_test_refuse_{run} {check}')
    try:
        rids = story(dsn, run, tenant)
        waited = gxctl("projections", "wait", "--request-id", rids["loan"], "--timeout", "60", check=False)
        assert waited.returncode == 1, waited.stdout + waited.stderr
        assert "LoanApplied" in waited.stderr and "dead-lettered by loans" in waited.stderr
        assert "APPLY_ERROR" in waited.stderr and f"gx_test_refuse_{run}" in waited.stderr
        applied = gxctl("projections", "wait", "--request-id", rids["xfer-1"], "--timeout", "60", check=False)
        assert applied.returncode == 0, applied.stderr  # a command whose events were applied still waits fine
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for table in checks:
                conn.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS gx_test_refuse_{run}')
    with psycopg.connect(dsn) as conn:
        before = {
            "loan": conn.execute('SELECT status FROM "Loan" WHERE "loanId" = %s', (f"loan-{run}",)).fetchall(),
            "org": conn.execute('SELECT status FROM "Organization" WHERE "orgId" = %s', (f"org-{run}",)).fetchall(),
        }
    assert before == {"loan": [], "org": [("PROPOSED",)]}
    assert verify_json() != []  # what the dead letters left behind
    repaired = gxctl("projections", "repair", "--json", check=False, timeout=600)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    out = json.loads(repaired.stdout)
    assert out["written"].get("Loan", 0) >= 1 and out["written"].get("Organization", 0) >= 1
    with psycopg.connect(dsn) as conn:
        assert conn.execute(
            'SELECT status, "approverId" FROM "Loan" WHERE "loanId" = %s', (f"loan-{run}",)
        ).fetchall() == [("APPROVED", f"dave-{run}")]
        assert conn.execute(
            'SELECT status, "votesFor", "votesAgainst" FROM "Proposal" WHERE "proposalId" = %s', (f"prop-{run}",)
        ).fetchall() == [("EXECUTED", 2, 1)]
        assert conn.execute(
            'SELECT status, "requiredApprovals", "walletId" FROM "Organization" WHERE "orgId" = %s', (f"org-{run}",)
        ).fetchall() == [("ACTIVE", 2, f"@org:org-{run}")]
    assert verify_json() == []


def test_a_bad_event_arriving_during_a_rebuild_reaches_the_dead_letter_topic(up: dict[str, str]) -> None:
    """Defect 6: the rebuild kept its dead letters to itself; the live projector resumes after the
    swap from the shadow's checkpoints, past the bad event, so it never reached the DLQ. Here the
    live projectors are stopped while it arrives: only the rebuild reads it."""
    from stack.pipeline import Pipeline
    from tests.integration.conftest import gxctl

    bootstrap, tag = up["GX_KAFKA_BOOTSTRAP"], uuid.uuid4().hex[:8]
    Pipeline().stop_workers()
    try:
        key = f"k-{tag}"
        p = Producer({"bootstrap.servers": bootstrap})
        p.produce(
            "gx.fabric.events",
            key=key.encode(),
            value=envelope(f"GxTestUnknown{tag}", {"x": 1}, 0, tx_id=f"gx-test-{tag}"),
            partition=partition_for(key, 6),
        )
        assert p.flush(30) == 0
        proc = gxctl("projections", "rebuild", "ledger", "--json", check=False)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["dead_letters_sent"] >= 1
    finally:
        assert gxctl("up", check=False).returncode == 0
    reader = TopicReader(bootstrap, "gx.projections.dlq", lambda rec: rec.key == key)
    try:
        dead = reader.read_until(lambda rs: len(rs) >= len(GROUPS), 120)
    finally:
        reader.close()
    by = sorted(d.headers["projector"] for d in dead)
    assert by == sorted(GROUPS)  # the ledger group's from the rebuild, once; the others' from their live projectors
    assert all(d.headers["errorCode"] == "UNKNOWN_EVENT_TYPE" for d in dead)
