"""The local stack is real: records go through the broker, Debezium captures an INSERT."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid

import psycopg
from confluent_kafka import Message
from confluent_kafka.admin import AdminClient, NewTopic

from gxcommon.dsn import password, pg_parts, secret_parts, with_password
from gxcommon.kafka import Consumer, Producer, offset_of, partition_of
from tests.integration.conftest import gxctl
from tests.integration.db import scalar
from tests.waiting import wait_until


def _admin(env: dict[str, str]) -> AdminClient:
    return AdminClient({"bootstrap.servers": env["GX_KAFKA_BOOTSTRAP"]})


def _consume(env: dict[str, str], topic: str, want: int, deadline_s: float = 60) -> list[Message]:
    c = Consumer(
        {
            "bootstrap.servers": env["GX_KAFKA_BOOTSTRAP"],
            "group.id": f"t-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    c.subscribe([topic])
    got: list[Message] = []
    end = time.monotonic() + deadline_s
    try:
        while len(got) < want and time.monotonic() < end:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got.append(m)
    finally:
        c.close()
    return got


def text(raw: bytes | None) -> str:
    """A record's key or value as text ("" for none)."""
    return (raw or b"").decode()


def _rest(env: dict[str, str], method: str, path: str, body: dict | None = None) -> tuple[int, object]:
    req = urllib.request.Request(
        env["GX_CONNECT_URL"] + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_status_reports_every_component_healthy(stack_env: dict[str, str]) -> None:
    rows = json.loads(gxctl("stack", "status", "--json").stdout)
    assert {r["component"] for r in rows} >= {"postgres", "kafka", "connect"}
    assert all(r["healthy"] for r in rows), rows


def test_up_is_idempotent_and_keeps_the_same_processes(stack_env: dict[str, str]) -> None:
    before = {r["component"]: r["pid"] for r in json.loads(gxctl("stack", "status", "--json").stdout)}
    gxctl("stack", "up")
    after = {r["component"]: r["pid"] for r in json.loads(gxctl("stack", "status", "--json").stdout)}
    assert before == after


def test_postgres_uses_password_auth_with_a_hostile_password(stack_env: dict[str, str]) -> None:
    # The DSN names a libpq password file rather than holding the password (`stack env` prints it).
    parts = pg_parts(stack_env["GX_PG_DSN"])
    assert parts["password"] == "" and "passfile" in parts["query"]
    assert all(ch in password(stack_env["GX_PG_DSN"]) for ch in "/=@%")
    with psycopg.connect(stack_env["GX_PG_DSN"]) as conn:
        assert scalar(conn, "SHOW wal_level") == "logical"
        assert scalar(conn, "SHOW password_encryption") == "scram-sha-256"
    # Password authentication, not trust: a wrong password is refused.
    bad = with_password(stack_env["GX_PG_DSN"], "wrong")
    try:
        psycopg.connect(bad, connect_timeout=5).close()
        refused = False
    except psycopg.OperationalError as e:
        refused = "password authentication failed" in str(e)
    assert refused


def test_produce_and_consume_through_the_broker(stack_env: dict[str, str]) -> None:
    topic = f"gx.test.roundtrip.{uuid.uuid4().hex[:8]}"
    admin = _admin(stack_env)
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])[topic].result(30)
    try:
        p = Producer({"bootstrap.servers": stack_env["GX_KAFKA_BOOTSTRAP"], "enable.idempotence": True})
        sent = [(f"k{i % 5}", f"v{i}") for i in range(50)]
        for k, v in sent:
            p.produce(topic, key=k, value=v)
        assert p.flush(30) == 0
        got = _consume(stack_env, topic, len(sent))
        assert sorted((text(m.key()), text(m.value())) for m in got) == sorted(sent)
        # Same key, same partition, in order.
        by_key: dict[str, list[str]] = {}
        for m in sorted(got, key=lambda m: (partition_of(m), offset_of(m))):
            by_key.setdefault(text(m.key()), []).append(text(m.value()))
        for k, vals in by_key.items():
            assert vals == [v for kk, v in sent if kk == k]
    finally:
        admin.delete_topics([topic])[topic].result(30)


def test_debezium_captures_an_insert_on_a_scratch_table(stack_env: dict[str, str]) -> None:
    tag = uuid.uuid4().hex[:8]
    table, slot, pub, name, prefix = (
        f"scratch_{tag}",
        f"gx_test_{tag}",
        f"gx_test_pub_{tag}",
        f"gx-test-{tag}",
        f"gxtest{tag}",
    )
    dsn = stack_env["GX_PG_DSN"]
    parts = secret_parts(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, note text)")
    config = {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "plugin.name": "pgoutput",
        "database.hostname": parts["host"],
        "database.port": str(parts["port"]),
        "database.user": parts["user"],
        "database.password": parts["password"],
        "database.dbname": parts["dbname"],
        "topic.prefix": prefix,
        "slot.name": slot,
        "publication.name": pub,
        "publication.autocreate.mode": "filtered",
        "table.include.list": f"public.{table}",
        "snapshot.mode": "no_data",
        "topic.creation.default.replication.factor": "1",
        "topic.creation.default.partitions": "1",
        "poll.interval.ms": "50",
    }
    topic = f"{prefix}.public.{table}"
    try:
        code, body = _rest(stack_env, "PUT", f"/connectors/{name}/config", config)
        assert code in (200, 201), body

        def task_states() -> list[str]:
            st = _rest(stack_env, "GET", f"/connectors/{name}/status")[1]
            states = [t["state"] for t in st.get("tasks", [])] if isinstance(st, dict) else []
            assert "FAILED" not in states, st
            return states

        wait_until(task_states, f"{name}'s task RUNNING", until=lambda s: s == ["RUNNING"], timeout=90, interval=0.5)
        # The slot exists once streaming started; insert after that so it is captured.
        with psycopg.connect(dsn, autocommit=True) as conn:
            wait_until(lambda: slot_active(conn, slot), f"replication slot {slot} active", timeout=60, interval=0.3)
            conn.execute(f"INSERT INTO {table} VALUES (1, 'hello from gx')")
        got = _consume(stack_env, topic, 1, deadline_s=60)
        assert got, f"no change event on {topic}"
        value = json.loads(text(got[0].value()))
        after = value.get("after") or value.get("payload", {}).get("after")
        assert after == {"id": 1, "note": "hello from gx"}
        assert (value.get("op") or value["payload"]["op"]) == "c"
    finally:
        _rest(stack_env, "DELETE", f"/connectors/{name}")
        with psycopg.connect(dsn, autocommit=True) as conn:
            # An active slot cannot be dropped: the deleted connector's task lets go of it first.
            wait_until(lambda: not slot_active(conn, slot), f"replication slot {slot} released", timeout=60)
            conn.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name=%s", (slot,)
            )
            conn.execute(f"DROP PUBLICATION IF EXISTS {pub}")
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        _admin(stack_env).delete_topics([topic])
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert not conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name=%s", (slot,)).fetchone()


def slot_active(conn: psycopg.Connection, slot: str) -> bool:
    """Whether a client streams from the replication slot now."""
    return bool(conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name=%s AND active", (slot,)).fetchone())


def _status(name: str) -> dict:
    return next(r for r in json.loads(gxctl("stack", "status", "--json", check=False).stdout) if r["component"] == name)


def test_a_crashed_component_is_restarted_by_the_watchdog_and_counted(stack_env: dict[str, str]) -> None:
    """Issue 20, item 8: a stack process that crashes is restarted, the restart counted and logged."""
    import os
    import signal

    from stack.runstate import restarts
    from stack.settings import StackSettings

    gxctl("stack", "up")  # the watchdog runs whenever the stack is up
    run_dir = StackSettings().run_dir
    before = restarts(run_dir).get("chaincode", {}).get("restarts", 0)
    pid = _status("chaincode")["pid"]
    os.killpg(pid, signal.SIGKILL)
    wait_until(
        lambda: _status("chaincode"),
        "the chaincode restarted by the watchdog",
        until=lambda row: row["pid"] not in (None, pid) and row["healthy"],
        timeout=90,
        interval=0.5,
    )
    # The watchdog counts a restart once the component's start has returned, which can be a moment
    # after the new process already answers (a CI run read the count in between).
    count = wait_until(
        lambda: restarts(run_dir).get("chaincode", {}).get("restarts", 0),
        "the chaincode's restart counted",
        until=lambda n: n != before,
        timeout=30,
    )
    assert count == before + 1
    log = gxctl("stack", "logs", "watchdog", "-n", "200").stdout
    assert '"event": "restarted", "component": "chaincode"' in log


def test_a_lost_pid_file_is_found_again_and_down_still_stops_the_process(stack_env: dict[str, str]) -> None:
    """Issue 20, item 8: pid files once vanished while every process ran on; `gxctl status` showed
    them all down, `up` refused their ports, `down` said nothing was running. A process is now
    ours by its start ticks and the marker in its environment, whatever happened to its record."""
    from stack.settings import StackSettings

    gxctl("stack", "up")
    pid = _status("chaincode")["pid"]
    pid_file = StackSettings().run_dir / "chaincode.pid"
    pid_file.unlink()
    assert _status("chaincode")["pid"] == pid and pid_file.exists()  # found by its marker
    pid_file.unlink()
    assert gxctl("stack", "down", "--only", "chaincode").returncode == 0
    import psutil

    def gone() -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_until(gone, "down to stop the chaincode whose pid file was lost", timeout=30)
    assert gxctl("stack", "up", "--only", "chaincode").returncode == 0
    assert _status("chaincode")["healthy"]
