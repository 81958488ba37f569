"""Ledger to read models on the real stack: `gxctl up` runs the block publisher and the six
projectors beside the write path, commands go in through the outbox, and `gxctl verify` compares
every read model with the chaincode's state.

- the demo's 25 command types end in read models equal to the ledger, and a command can be waited on;
- SIGKILL of the block publisher and of a projector under load: no event lost or applied twice,
  and gx.fabric.events holds exactly one record per event of every valid transaction;
- the read-model database restored from an older backup: the projectors replay to the same state;
- a rebuild while commands flow: readers never see an empty or half-built table.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import threading
import time
import uuid
from collections import Counter
from typing import Any

import psycopg
from confluent_kafka import KafkaError, TopicPartition

from gxcommon.kafka import Consumer, Producer, partition_of
from gxcommon.record_limits import MAX_RECORD_BYTES
from gxsdk import enqueue
from projections.groups import GROUPS
from stack.pipeline import Pipeline
from tests.integration.conftest import gxctl
from tests.integration.db import scalar
from tests.integration.fabric_helpers import ensure, gateway, ledger_blocks, rid, submit
from tests.integration.workers import metric_value
from tests.waiting import wait_until

TENANT = "rm-test"


def verify(settle: float = 60) -> list[dict[str, Any]]:
    proc = gxctl("verify", "--json", "--settle", str(settle), check=False)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def funded(n: int, amount: int = 100_000) -> list[str]:
    async def go() -> list[str]:
        async with gateway() as gw:
            await ensure(gw, "AdminContract:BootstrapSystem", rid("boot"))
            await ensure(gw, "AdminContract:InitializeCountry", rid("country"), "MY", "Malaysia")
            users = [rid("rm") for _ in range(n)]
            await asyncio.gather(
                *(
                    submit(
                        gw,
                        "IdentityContract:CreateUser",
                        rid(),
                        u,
                        f"{u}@example.com",
                        "Rm",
                        "User",
                        "MY",
                        tenant=TENANT,
                    )
                    for u in users
                )
            )
            for u in users:  # one at a time: each moves the same pool and country records
                await submit(gw, "TokenomicsContract:DistributeGenesis", rid(), u, "MY", str(amount), tenant=TENANT)
            return users

    return asyncio.run(go())


class Load:
    """Transfers between ``users`` enqueued through the outbox at about ``rate`` per second."""

    def __init__(self, dsn: str, users: list[str], count: int, rate: float = 40) -> None:
        self.dsn, self.users, self.count, self.rate = dsn, users, count, rate
        self.ids: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        rnd = random.Random(5)
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for _ in range(self.count):
                a, b = rnd.sample(self.users, 2)
                r = f"{TENANT}-{uuid.uuid4().hex[:10]}"
                enqueue(
                    conn,
                    tenant_id=TENANT,
                    service="svc-tokenomics",
                    command_type="TRANSFER_TOKENS",
                    request_id=r,
                    payload={"fromWalletId": a, "toWalletId": b, "amount": rnd.randint(1, 50)},
                )
                self.ids.append(r)
                time.sleep(1 / self.rate)  # the load's pace

    def start(self) -> Load:
        self.thread.start()
        return self

    def finish(self, dsn: str, timeout: float = 240) -> None:
        """Until every command of the load is enqueued and final."""
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the load enqueued {len(self.ids)} of {self.count} in {timeout} s"

        def pending() -> int:
            with psycopg.connect(dsn) as conn:
                return scalar(
                    conn,
                    'SELECT count(*) FROM "OutboxCommand" WHERE "requestId" = ANY(%s)'
                    " AND status NOT IN ('CONFIRMED', 'FAILED')",
                    (self.ids,),
                )

        wait_until(
            pending, f"the load's {len(self.ids)} commands final", until=lambda n: n == 0, timeout=timeout, interval=0.5
        )


def worker_url(name: str) -> str:
    return f"http://127.0.0.1:{Pipeline().ports[name]}"


def ledger_worker() -> str:
    """The worker hosting the ledger group: `projectors` (all groups), or its own in the secure mode."""
    return "projector-ledger" if "projector-ledger" in Pipeline().wanted() else "projectors"


def test_the_demo_ends_in_read_models_equal_to_the_ledger_and_a_write_can_be_waited_on(up: dict[str, str]) -> None:
    demo = gxctl("demo", "--json", check=False, timeout=600)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert verify() == []
    with psycopg.connect(up["GX_PG_DSN"]) as conn:
        applied = scalar(
            conn,
            'SELECT "requestId" FROM "OutboxCommand" WHERE "tenantId" = %s AND status = %s'
            ' AND "commandType" = %s ORDER BY "createdAt" DESC LIMIT 1',
            ("demo", "CONFIRMED", "CAST_VOTE"),
        )
    out = json.loads(gxctl("projections", "wait", "--request-id", applied, "--json").stdout)
    assert out["status"] == "CONFIRMED" and [e["name"] for e in out["events"]] == ["VoteCast"]
    assert out["events"][0]["groups"] == ["governance"]
    # A transfer enqueued now: the wait returns only once the ledger read model shows it.
    users = funded(2)
    r = f"{TENANT}-{uuid.uuid4().hex[:10]}"
    with psycopg.connect(up["GX_PG_DSN"], autocommit=True) as conn:
        enqueue(
            conn,
            tenant_id=TENANT,
            service="svc-tokenomics",
            command_type="TRANSFER_TOKENS",
            request_id=r,
            payload={"fromWalletId": users[0], "toWalletId": users[1], "amount": 7},
        )
    out = json.loads(gxctl("projections", "wait", "--request-id", r, "--timeout", "60", "--json").stdout)
    assert out["events"][0]["groups"] == ["ledger"]
    with psycopg.connect(up["GX_PG_DSN"]) as conn:
        assert scalar(conn, 'SELECT amount FROM "TransactionHistory" WHERE "requestId" = %s', (r,)) == 7
        assert int(scalar(conn, 'SELECT balance FROM "Wallet" WHERE "walletId" = %s', (users[1],))) == 100_007
    failed = gxctl("projections", "wait", "--request-id", "no-such-request", "--timeout", "1", check=False)
    assert failed.returncode == 1 and failed.stderr == (
        "error: request no-such-request: no outbox row; give its tenant (--tenant) to find it on the ledger\n"
    )
    failed = gxctl(
        "projections", "wait", "--request-id", "no-such-request", "--tenant", TENANT, "--timeout", "1", check=False
    )
    assert failed.returncode == 1 and failed.stderr.startswith("error: request no-such-request: not committed")
    # A fresh shell with no GX_* connection variable: gxctl finds the stack by itself (its state
    # directory and ports are all a user has, as after `make run`).
    import os
    import subprocess
    import sys

    bare = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GX_PG_DSN", "GX_KAFKA_BOOTSTRAP", "GX_CONNECT_URL", "GX_FABRIC_"))
    }
    found = subprocess.run(
        [sys.executable, "-m", "gxctl.main", "-v", "commands", "show", r],
        capture_output=True,
        text=True,
        env=bare,
        timeout=60,
    )
    assert found.returncode == 0, found.stderr
    assert "settings: the local stack at" in found.stderr and "CONFIRMED" in found.stdout


def committed_events(bootstrap: str) -> list[tuple[str, int]]:
    """(txId, eventIndex) of every committed record on gx.fabric.events."""
    return [(env["txId"], env["eventIndex"]) for env in (json.loads(v) for _, _, v in _records(bootstrap))]


def ledger_event_ids(last_block: int) -> list[tuple[str, int]]:
    return [
        (t.tx_id, i)
        for b in ledger_blocks(0, last_block)
        for t in b.transactions
        if t.valid
        for i, _ in enumerate(t.events)
    ]


def kill(name: str) -> None:
    proc = Pipeline().workers[name]
    pid = proc.pid()
    assert pid is not None, f"{name} is not running"
    import os
    import signal

    os.kill(pid, signal.SIGKILL)
    # Gone: no process, or already another one (the watchdog restarts a worker that dies).
    wait_until(proc.pid, f"{name} (pid {pid}) gone", until=lambda p: p != pid, timeout=10, interval=0.1)


def test_sigkill_of_the_publisher_and_a_projector_under_load_loses_and_repeats_nothing(up: dict[str, str]) -> None:
    users = funded(8)
    load = Load(up["GX_PG_DSN"], users, 400).start()
    publisher = worker_url("block-publisher")
    start = metric_value(publisher, "publisher_blocks_published_total")
    wait_until(
        lambda: metric_value(publisher, "publisher_blocks_published_total"),
        "5 blocks published under load",
        until=lambda n: n >= start + 5,
        timeout=60,
        interval=0.1,
    )
    kill("block-publisher")  # somewhere in the block stream, often inside a Kafka transaction
    assert gxctl("up", check=False).returncode == 0
    ledger = worker_url(ledger_worker())
    applied = {"projector": "ledger", "event_type": "TokensTransferred"}
    base = metric_value(ledger, "projector_events_processed_total", applied)
    wait_until(
        lambda: metric_value(ledger, "projector_events_processed_total", applied),
        "20 transfers applied by the ledger projector under load",
        until=lambda n: n >= base + 20,
        timeout=60,
        interval=0.1,
    )
    kill(ledger_worker())  # mid-stream, with a batch in flight
    assert gxctl("up", check=False).returncode == 0
    load.finish(up["GX_PG_DSN"])
    assert verify() == []
    # Exactly one record per event of every valid transaction, up to the last published block.
    # (Records that are no ledger event, which other tests put on the topic, are not the publisher's.)
    last = int(metric_value(worker_url("block-publisher"), "publisher_marker_block"))
    on_topic = committed_events(up["GX_KAFKA_BOOTSTRAP"])
    want = ledger_event_ids(last)
    ledger_ids = set(want)
    dupes = [k for k, n in Counter(on_topic).items() if n > 1 and k in ledger_ids]
    assert dupes == []
    assert ledger_ids <= set(on_topic) and len(on_topic) >= len(want)


READ_MODEL_TABLES = [*sorted({t for g in GROUPS.values() for t in g.tables}), "ProjectorState"]


def test_a_read_model_database_restored_from_an_older_backup_replays_to_the_same_state(up: dict[str, str]) -> None:
    dsn = up["GX_PG_DSN"]
    users = funded(4)
    assert verify() == []
    backup: dict[str, bytes] = {}
    with psycopg.connect(dsn) as conn:  # the "backup": rows and checkpoints of one moment
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        for t in READ_MODEL_TABLES:
            with conn.cursor().copy(f'COPY "{t}" TO STDOUT') as cp:
                backup[t] = b"".join(bytes(chunk) for chunk in cp)
    load = Load(dsn, users, 60).start()
    load.finish(dsn)
    assert verify() == []
    replayed0 = metric_value(
        worker_url(ledger_worker()), "projector_gap_records_replayed_total", {"projector": "ledger"}
    )
    with psycopg.connect(dsn) as conn:  # restore it, while the projectors run
        conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in READ_MODEL_TABLES))
        for t, data in backup.items():
            with conn.cursor().copy(f'COPY "{t}" FROM STDIN') as cp:
                cp.write(data)
    assert all(r.encode() not in backup["TransactionHistory"] for r in load.ids)  # the backup is older
    assert verify() == []  # the projectors noticed and replayed what the backup did not have
    assert (
        metric_value(worker_url(ledger_worker()), "projector_gap_records_replayed_total", {"projector": "ledger"})
        > replayed0
    )


def test_a_rebuild_while_commands_flow_never_shows_readers_an_empty_half_built_or_older_table(
    up: dict[str, str],
) -> None:
    """Readers polling every 5 ms through a rebuild of the ledger group under load: never an error,
    never fewer wallets, and a wallet that only receives never shows a lower balance than it
    showed before (issue 22: a swap installed shadow checkpoints behind the live ones, so balances
    went back until the live projector replayed the gap)."""
    dsn = up["GX_PG_DSN"]
    users = funded(6)
    sink, senders = users[-1], users[:-1]
    with psycopg.connect(dsn) as conn:
        floor = scalar(conn, 'SELECT count(*) FROM "Wallet"')
    seen: list[int] = []
    sink_seen: list[int] = []
    errors: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            while not stop.is_set():
                try:
                    seen.append(scalar(conn, 'SELECT count(*) FROM "Wallet"'))
                    row = conn.execute('SELECT balance FROM "Wallet" WHERE "walletId" = %s', (sink,)).fetchone()
                    if row is not None:
                        sink_seen.append(int(row[0]))
                except psycopg.Error as e:
                    errors.append(str(e))
                time.sleep(0.005)  # a reader's pace

    def into_sink() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for i in range(150):
                enqueue(
                    conn,
                    tenant_id=TENANT,
                    service="svc-tokenomics",
                    command_type="TRANSFER_TOKENS",
                    request_id=f"{TENANT}-sink-{uuid.uuid4().hex[:10]}",
                    payload={"fromWalletId": senders[i % len(senders)], "toWalletId": sink, "amount": 1},
                )
                time.sleep(0.05)  # the feeder's pace

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    load = Load(dsn, senders, 200).start()
    feeder = threading.Thread(target=into_sink, daemon=True)
    feeder.start()
    # The rebuild starts once transfers flow into the read model: the readers see the sink grow.
    wait_until(
        lambda: list(sink_seen),
        "the sink's balance to grow",
        until=lambda seen: len(seen) > 1 and max(seen) > seen[0],
        timeout=120,
        interval=0.2,
    )
    proc = gxctl("projections", "rebuild", "ledger", "--json", check=False)
    feeder.join(60)
    load.finish(dsn)
    stop.set()
    t.join(10)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["rows"]["Wallet"] >= floor
    assert errors == [] and len(seen) > 100 and min(seen) >= floor  # never empty, never fewer wallets
    drops = [(a, b) for a, b in itertools.pairwise(sink_seen) if b < a]
    assert sink_seen and drops == [], f"the sink's balance went back: {drops[:5]}"
    assert verify() == []


def _records(bootstrap: str) -> list[tuple[int, bytes | None, bytes]]:
    """(partition, key, value) of every committed record on gx.fabric.events, in offset order."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
    )
    try:
        parts = c.list_topics("gx.fabric.events", timeout=10).topics["gx.fabric.events"].partitions
        c.assign([TopicPartition("gx.fabric.events", p, 0) for p in parts])
        out: list[tuple[int, bytes | None, bytes]] = []
        eof: set[int] = set()
        while len(eof) < len(parts):
            m = c.poll(10)
            assert m is not None, "gx.fabric.events did not reach its end"
            if (error := m.error()) is not None:
                assert error.code() == KafkaError._PARTITION_EOF, error
                eof.add(partition_of(m))
                continue
            value = m.value()
            assert value is not None, "an event record has a value"
            out.append((partition_of(m), m.key(), value))
        return out
    finally:
        c.close()


def _checkpoints(dsn: str) -> dict[tuple[str, int], tuple[int, tuple[int, int, int]]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            'SELECT "projectorName", "partition", "offset", "lastBlock", "lastTxIndex",'
            ' "lastEventIndex" FROM "ProjectorState" WHERE topic = \'gx.fabric.events\''
        ).fetchall()
    return {(n, p): (o, (b, t, e)) for n, p, o, b, t, e in rows}


def test_every_event_delivered_again_in_reverse_order_changes_no_row_and_no_checkpoint_goes_back(
    up: dict[str, str],
) -> None:
    """What a dead-letter replay or a second block publisher does: old events appended at the end of
    their partitions. Here every event on the topic comes again, newest first, after a wallet was
    frozen then unfrozen: the wallet stays unfrozen, every read model stays equal to the ledger, and
    no projector's ledger position moves back while its offset moves past the replayed records."""
    dsn, bootstrap = up["GX_PG_DSN"], up["GX_KAFKA_BOOTSTRAP"]
    [user] = funded(1)

    async def freeze_then_unfreeze() -> None:
        async with gateway() as gw:
            await submit(gw, "TokenomicsContract:FreezeWallet", rid(), user, "suspicious", tenant=TENANT)
            await submit(gw, "TokenomicsContract:UnfreezeWallet", rid(), user, tenant=TENANT)

    asyncio.run(freeze_then_unfreeze())
    assert verify() == []
    records = _records(bootstrap)
    # The topic may hold an event at the publisher's size limit (the fault harness's): the limit of every producer.
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "message.max.bytes": MAX_RECORD_BYTES}
    )

    def deliver_again(again: list[tuple[int, bytes | None, bytes]]) -> dict:
        before = _checkpoints(dsn)
        for part, key, value in again:
            producer.produce("gx.fabric.events", value=value, key=key, partition=part)
            producer.poll(0)
        assert producer.flush(30) == 0
        ends = Counter(p for p, _, _ in again)

        def behind(now: dict[tuple[str, int], tuple[int, tuple[int, int, int]]]) -> list[tuple[str, int]]:
            return [k for k, (o, _) in now.items() if k in before and o < before[k][0] + ends[k[1]]]

        now = wait_until(
            lambda: _checkpoints(dsn),
            "every projector's offset past the records delivered again",
            until=lambda now: not behind(now),
            timeout=120,
            detail=lambda: f"behind: {behind(_checkpoints(dsn))}",
        )
        assert [k for k, (_, pos) in now.items() if k in before and pos < before[k][1]] == []
        return now

    # The freeze alone, as `gxctl dlq replay` would send it back: in a batch of its own.
    [frozen] = [
        r
        for r in records
        if json.loads(r[2])["name"] == "WalletFrozen" and json.loads(r[2])["payload"]["walletId"] == user
    ]
    deliver_again([frozen])
    with psycopg.connect(dsn) as conn:
        assert conn.execute('SELECT frozen FROM "Wallet" WHERE "walletId" = %s', (user,)).fetchall() == [(False,)]
    # Then everything, newest first.
    deliver_again(list(reversed(records)))
    with psycopg.connect(dsn) as conn:
        assert conn.execute('SELECT frozen FROM "Wallet" WHERE "walletId" = %s', (user,)).fetchall() == [(False,)]
    assert verify() == []
