"""The outbox on the real stack: Postgres -> Debezium (Kafka Connect) -> gx.commands."""

from __future__ import annotations

import json
import threading
import uuid

import psycopg
import pytest

from gxsdk import IdempotencyConflict, enqueue
from gxsdk.produce import command_producer, produce  # gxsdk.produce is also a module to a type checker
from schemas.command_types import CommandType
from schemas.errors import PayloadError
from schemas.examples import example
from schemas.routing import partition_key
from tests.integration.conftest import gxctl
from tests.integration.db import scalar
from tests.integration.kafka_helpers import TopicReader, of_tenant
from tests.waiting import wait_until

TOPIC = "gx.commands"
RAW_INSERT = (
    'INSERT INTO "OutboxCommand" (id, "tenantId", service, "commandType", "requestId", payload, status,'
    ' attempts, "createdAt", "updatedAt") VALUES (%s, %s, %s, %s, %s, %s, \'PENDING\', 0, now(), now())'
)


def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def reader(env: dict[str, str], t: str) -> TopicReader:
    return TopicReader(env["GX_KAFKA_BOOTSTRAP"], TOPIC, of_tenant(t))


def test_a_thousand_commands_from_several_connections_arrive_exactly_once_in_key_order(
    pipeline: dict[str, str],
) -> None:
    t = tenant()
    writers, per_writer = 4, 250
    sent: dict[int, list[dict]] = {w: [] for w in range(writers)}
    types = [CommandType.TRANSFER_TOKENS, CommandType.CREATE_USER, CommandType.CAST_VOTE, CommandType.APPLY_FOR_LOAN]

    def write(w: int) -> None:
        with psycopg.connect(pipeline["GX_PG_DSN"], autocommit=False) as conn:
            for i in range(per_writer):
                ctype = types[i % len(types)]
                # Each writer owns its aggregates, so per-key insertion order is its commit order.
                payload = example(ctype, f"{t}-w{w}-{i % 10}")
                if ctype == CommandType.TRANSFER_TOKENS:
                    payload["memo"] = f"seq-{i}"
                with conn.transaction():
                    res = enqueue(
                        conn,
                        tenant_id=t,
                        service="svc-test",
                        command_type=ctype,
                        request_id=f"{t}-{w}-{i}",
                        payload=payload,
                        correlation_id=f"corr-{w}-{i}",
                    )
                sent[w].append(
                    {"id": res.id, "key": res.key, "type": ctype.value, "payload": payload, "requestId": f"{t}-{w}-{i}"}
                )

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    total = writers * per_writer
    with reader(pipeline, t) as r:
        got = r.read_until(lambda recs: len(recs) >= total, 120)
        assert len(got) >= total, f"{len(got)} of {total} arrived"
        got = r.read_to_end()  # anything extra (duplicates) shows up too
    by_id = {s["id"]: s for w in sent.values() for s in w}
    ids = [rec.headers["id"] for rec in got]
    assert len(ids) == len(set(ids)), "duplicates on the topic"
    assert set(ids) == set(by_id), f"missing: {len(set(by_id) - set(ids))}"
    for rec in got:
        s = by_id[rec.headers["id"]]
        assert rec.key == s["key"] == partition_key(s["type"], s["payload"])
        assert rec.headers == {
            "id": s["id"],
            "commandType": s["type"],
            "requestId": s["requestId"],
            "tenantId": t,
            "service": "svc-test",
        }
        v = rec.value
        assert v["payload"] == s["payload"]  # exactly as written
        assert (v["id"], v["tenantId"], v["service"], v["commandType"], v["requestId"], v["key"]) == (
            s["id"],
            t,
            "svc-test",
            s["type"],
            s["requestId"],
            s["key"],
        )
        assert v["correlationId"].startswith("corr-") and v["createdAt"]
    # Order per key: the topic (partition, offset) order equals each writer's insertion order.
    arrival = {rec.headers["id"]: (rec.partition, rec.offset) for rec in got}
    for items in sent.values():
        keys = {s["key"] for s in items}
        for k in keys:
            seq = [arrival[s["id"]] for s in items if s["key"] == k]
            assert len({p for p, _ in seq}) == 1, f"key {k} spread over partitions"
            assert seq == sorted(seq), f"key {k} out of order"


def test_status_updates_are_never_emitted(pipeline: dict[str, str]) -> None:
    t = tenant()
    with psycopg.connect(pipeline["GX_PG_DSN"]) as conn:
        first = enqueue(
            conn,
            tenant_id=t,
            service="s",
            command_type="CREATE_USER",
            request_id="a",
            payload=example("CREATE_USER", t),
        )
        conn.commit()
        for status in ("LOCKED", "SUBMITTED", "CONFIRMED"):
            conn.execute(
                'UPDATE "OutboxCommand" SET status = %s, attempts = attempts + 1 WHERE id = %s', (status, first.id)
            )
            conn.commit()
        conn.execute('DELETE FROM "OutboxCommand" WHERE id = %s', (first.id,))
        conn.commit()
        marker = enqueue(
            conn,
            tenant_id=t,
            service="s",
            command_type="CREATE_USER",
            request_id="b",
            payload=example("CREATE_USER", t + "x"),
        )
        conn.commit()
    with reader(pipeline, t) as r:
        # Records of different keys may come from different partitions in any order: wait for both,
        # then read to the topic's end, so that an UPDATE emitted before the marker (a duplicate id)
        # would be seen too.
        r.read_until(lambda recs: {first.id, marker.id} <= {x.headers["id"] for x in recs})
        got = r.read_to_end()
    assert sorted(x.headers["id"] for x in got) == sorted([first.id, marker.id])


def test_a_malformed_payload_from_raw_sql_still_reaches_the_topic_and_capture_goes_on(pipeline: dict[str, str]) -> None:
    t = tenant()
    bad = [
        ("raw-" + uuid.uuid4().hex, '{"oops": true}'),
        ("raw-" + uuid.uuid4().hex, '{"userId": null, "n": [1, "x"]}'),
    ]
    with psycopg.connect(pipeline["GX_PG_DSN"], autocommit=True) as conn:
        for rid, payload in bad:
            # The old system's INSERT, exactly its columns: the key is derived by the database.
            conn.execute(RAW_INSERT, (rid, t, "svc-old", "CREATE_USER", rid, payload))
        with conn.transaction():
            good = enqueue(conn, tenant_id=t, service="s", command_type="BOOTSTRAP_SYSTEM", request_id="g", payload={})
    r = reader(pipeline, t)
    try:
        got = r.read_until(lambda recs: len(recs) >= 3)
    finally:
        r.close()
    assert sorted(x.headers["id"] for x in got) == sorted([good.id, *(rid for rid, _ in bad)])
    first = next(x for x in got if x.headers["id"] == bad[0][0])
    assert first.value["payload"] == {"oops": True}
    assert first.key == bad[0][0]  # no userId: keyed by the row id, still on the topic
    assert json.loads(gxctl("connectors", "status", "--json").stdout)["tasks"][0]["state"] == "RUNNING"


def test_a_non_object_payload_is_refused_at_the_door_naming_the_constraint(pipeline: dict[str, str]) -> None:
    with psycopg.connect(pipeline["GX_PG_DSN"], autocommit=True) as conn:
        with pytest.raises(psycopg.errors.CheckViolation, match="OutboxCommand_payload_is_object"):
            conn.execute(RAW_INSERT, ("raw-arr", tenant(), "svc-old", "CREATE_USER", "r", "[1, 2]"))


def test_the_old_systems_insert_gets_the_same_key_as_the_sdk(pipeline: dict[str, str]) -> None:
    t = tenant()
    with psycopg.connect(pipeline["GX_PG_DSN"], autocommit=True) as conn:
        for ctype in CommandType:
            payload = example(ctype, t)
            rid = f"{t}-{ctype.value}"
            conn.execute(RAW_INSERT, (rid, t, "svc-old", ctype.value, rid, json.dumps(payload)))
            key = scalar(conn, 'SELECT "partitionKey" FROM "OutboxCommand" WHERE id = %s', (rid,))
            assert key == partition_key(ctype, payload), ctype


def test_enqueue_is_idempotent_per_request_id(pipeline: dict[str, str]) -> None:
    t = tenant()
    payload = example("CREATE_USER", t)
    with psycopg.connect(pipeline["GX_PG_DSN"]) as conn:
        a = enqueue(conn, tenant_id=t, service="s", command_type="CREATE_USER", request_id="same", payload=payload)
        conn.commit()
        b = enqueue(
            conn, tenant_id=t, service="s", command_type="CREATE_USER", request_id="same", payload=dict(payload)
        )
        conn.commit()
        assert (a.created, b.created, a.id) == (True, False, b.id)
        with pytest.raises(IdempotencyConflict, match="requestId 'same'"):
            enqueue(
                conn,
                tenant_id=t,
                service="s",
                command_type="CREATE_USER",
                request_id="same",
                payload={**payload, "lastName": "Other"},
            )
        conn.rollback()
        n = scalar(conn, 'SELECT count(*) FROM "OutboxCommand" WHERE "tenantId" = %s', (t,))
    assert n == 1


def test_invalid_payloads_are_refused_by_the_sdk_and_the_cli_with_the_field_named(pipeline: dict[str, str]) -> None:
    t = tenant()
    with psycopg.connect(pipeline["GX_PG_DSN"]) as conn:
        with pytest.raises(PayloadError, match="amount: Input should be greater than 0"):
            enqueue(
                conn,
                tenant_id=t,
                service="s",
                command_type="TRANSFER_TOKENS",
                request_id="x",
                payload={"fromWalletId": "a", "toWalletId": "b", "amount": 0},
            )
    proc = gxctl(
        "commands",
        "enqueue",
        "--tenant",
        t,
        "--service",
        "s",
        "--type",
        "CREATE_USER",
        "--request-id",
        "y",
        "--payload",
        '{"userId": "U1", "email": "x@y.z", "firstName": "A", "lastName": "B", "country": "MY", "age": 3}',
        check=False,
    )
    assert proc.returncode == 2 and "age: Extra inputs are not permitted" in proc.stderr
    proc = gxctl(
        "commands",
        "enqueue",
        "--tenant",
        t,
        "--service",
        "s",
        "--type",
        "NOT_A_TYPE",
        "--request-id",
        "z",
        "--payload",
        "{}",
        check=False,
    )
    assert proc.returncode == 2 and "commandType: unknown command type 'NOT_A_TYPE'" in proc.stderr
    ok = gxctl(
        "commands",
        "enqueue",
        "--tenant",
        t,
        "--service",
        "s",
        "--type",
        "BOOTSTRAP_SYSTEM",
        "--request-id",
        "w",
        "--payload",
        "{}",
        "--json",
    )
    shown = json.loads(gxctl("commands", "show", "w", "--tenant", t, "--json").stdout)
    assert shown[0]["id"] == json.loads(ok.stdout)["id"] and shown[0]["status"] == "PENDING"


def test_the_sdk_produce_path_looks_like_the_outbox_path(pipeline: dict[str, str]) -> None:
    t = tenant()
    with psycopg.connect(pipeline["GX_PG_DSN"]) as conn:
        via_outbox = enqueue(
            conn,
            tenant_id=t,
            service="s",
            command_type="TRANSFER_TOKENS",
            request_id="o",
            payload=example("TRANSFER_TOKENS", t),
        )
        conn.commit()
    p = command_producer(pipeline["GX_KAFKA_BOOTSTRAP"])
    env = produce(
        p,
        TOPIC,
        tenant_id=t,
        service="s",
        command_type="TRANSFER_TOKENS",
        request_id="p",
        payload=example("TRANSFER_TOKENS", t),
    )
    assert p.flush(30) == 0
    r = reader(pipeline, t)
    try:
        got = {x.headers["id"]: x for x in r.read_until(lambda recs: len(recs) >= 2)}
    finally:
        r.close()
    a, b = got[via_outbox.id], got[env.id]
    assert a.key == b.key and a.partition == b.partition  # same key -> same partition, either path
    assert set(a.headers) == set(b.headers)
    assert set(a.value) == set(b.value)
    assert a.value["payload"] == b.value["payload"]


def test_heartbeats_let_the_slot_advance_while_the_outbox_is_idle(pipeline: dict[str, str]) -> None:
    with psycopg.connect(pipeline["GX_PG_DSN"], autocommit=True) as conn:
        # WAL that the outbox connector does not capture (status updates only).
        conn.execute('UPDATE "OutboxCommand" SET attempts = attempts WHERE false')
        for _ in range(20):
            conn.execute(
                'UPDATE "OutboxCommand" SET "updatedAt" = now() WHERE id IN (SELECT id FROM "OutboxCommand" LIMIT 50)'
            )
        target = scalar(conn, "SELECT pg_current_wal_lsn()")
        wait_until(
            lambda: conn.execute(
                "SELECT confirmed_flush_lsn >= %s::pg_lsn, confirmed_flush_lsn"
                " FROM pg_replication_slots WHERE slot_name = 'gx_outbox'",
                (target,),
            ).fetchone(),
            f"the gx_outbox slot to confirm {target}",
            until=lambda flushed: flushed is not None and flushed[0],
            timeout=45,
            interval=1,
        )
