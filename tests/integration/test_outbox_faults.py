"""The outbox connector under restarts: Kafka Connect and the broker go away while rows are inserted.

These tests stop and start stack components, so they live in their own module, run after the
others (file order), and leave the stack healthy.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from gxsdk import enqueue
from schemas.examples import example
from tests.integration.conftest import gxctl
from tests.integration.kafka_helpers import TopicReader, of_tenant


class Writer:
    """Inserts commands of one tenant at a steady rate from its own connection, in a thread."""

    def __init__(self, dsn: str, tenant: str, rate: float = 40) -> None:
        self.dsn, self.tenant, self.period = dsn, tenant, 1 / rate
        self.ids: list[str] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self.dsn) as conn:
            i = 0
            while not self._stop.is_set():
                try:
                    with conn.transaction():
                        res = enqueue(
                            conn,
                            tenant_id=self.tenant,
                            service="svc-fault",
                            command_type="TRANSFER_TOKENS",
                            request_id=f"{self.tenant}-{i}",
                            payload=example("TRANSFER_TOKENS", f"{self.tenant}-{i % 7}"),
                        )
                    self.ids.append(res.id)
                except psycopg.Error as e:  # Postgres stays up in these tests; record anything odd
                    self.errors.append(str(e))
                i += 1
                time.sleep(self.period)

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def connector_running(deadline_s: float = 120) -> dict:
    end = time.monotonic() + deadline_s
    st: dict = {}
    while time.monotonic() < end:
        proc = gxctl("connectors", "status", "--json", check=False)
        if proc.stdout.strip():
            st = json.loads(proc.stdout)
            if proc.returncode == 0:
                return st
        time.sleep(1)
    raise AssertionError(f"connector not RUNNING after {deadline_s}s: {st}")


def arrived(env: dict[str, str], tenant: str, ids: list[str], deadline_s: float = 120) -> list[str]:
    r = TopicReader(env["GX_KAFKA_BOOTSTRAP"], "gx.commands", of_tenant(tenant))
    try:
        r.read_until(lambda recs: set(ids) <= {x.headers["id"] for x in recs}, deadline_s)
        recs = r.read_until(lambda recs: False, 2)
    finally:
        r.close()
    return [x.headers["id"] for x in recs]


@pytest.fixture
def tenant(pipeline: dict[str, str]) -> Iterator[str]:
    yield f"f-{uuid.uuid4().hex[:10]}"
    gxctl("stack", "up", check=False)  # whatever happened, leave every component running


def test_inserts_made_while_connect_is_down_arrive_after_it_returns(pipeline: dict[str, str], tenant: str) -> None:
    with Writer(pipeline["GX_PG_DSN"], tenant) as w:
        time.sleep(2)
        gxctl("stack", "down", "--only", "connect")
        before_down = len(w.ids)
        time.sleep(4)
        while_down = len(w.ids) - before_down
        gxctl("stack", "up", "--only", "connect")
        connector_running()
        time.sleep(2)
    assert while_down > 50 and not w.errors
    got = arrived(pipeline, tenant, w.ids)
    assert set(got) == set(w.ids), f"lost {len(set(w.ids) - set(got))} of {len(w.ids)}"
    # A graceful stop flushes the producer and commits Connect's source offsets before the task
    # ends, so nothing is sent twice either.
    assert len(got) == len(set(got))


def test_the_connector_survives_a_broker_restart_without_losing_an_insert(
    pipeline: dict[str, str], tenant: str
) -> None:
    with Writer(pipeline["GX_PG_DSN"], tenant) as w:
        time.sleep(2)
        gxctl("stack", "down", "--only", "kafka")
        time.sleep(3)
        gxctl("stack", "up", "--only", "kafka")
        time.sleep(3)
    assert not w.errors
    st = connector_running()
    assert st["tasks"][0]["state"] == "RUNNING"
    got = arrived(pipeline, tenant, w.ids, 180)
    assert set(got) == set(w.ids), f"lost {len(set(w.ids) - set(got))} of {len(w.ids)}"
    # Capture is at-least-once (Connect's exactly-once source support is off, see stack/connect.py):
    # a producer retry across the broker's restart may send a record twice. That is harmless
    # downstream (the chaincode applies a requestId once); it must stay rare.
    dups = len(got) - len(set(got))
    print(f"broker restart: {len(w.ids)} inserts, {dups} duplicate deliveries")
    assert dups <= len(w.ids) // 20
