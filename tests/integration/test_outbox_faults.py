"""The outbox connector under restarts: Kafka Connect and the broker go away while rows are inserted.

Each fault lasts while a set number of rows is inserted (the writer inserts about 40 a second), not
a set time: every row inserted while the component is down must arrive after it returns. These
tests stop and start stack components, so they live in their own module, run after the others
(file order), and leave the stack healthy.
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
from tests.waiting import wait_until


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
                time.sleep(self.period)  # the load's pace

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def inserted(self, n: int, what: str, timeout: float = 60) -> int:
        """Until ``n`` more rows are inserted from now; how many were (at least ``n``)."""
        start = len(self.ids)
        return wait_until(
            lambda: len(self.ids) - start,
            f"{n} rows inserted {what}",
            until=lambda k: k >= n,
            timeout=timeout,
            detail=lambda: f"insert errors: {self.errors[-3:]}",
        )


def connector_running(timeout: float = 120) -> dict:
    """Until `gxctl connectors status` says the connector and its task run; its status."""

    def status() -> tuple[int, dict]:
        proc = gxctl("connectors", "status", "--json", check=False)
        return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else {}

    return wait_until(status, "the outbox connector RUNNING", until=lambda s: s[0] == 0, timeout=timeout, interval=1)[1]


def arrived(env: dict[str, str], tenant: str, ids: list[str], deadline_s: float = 120) -> list[str]:
    """The ids of the tenant's records on gx.commands once all of ``ids`` are there, read to the
    topic's end (so a record sent twice shows twice)."""
    with TopicReader(env["GX_KAFKA_BOOTSTRAP"], "gx.commands", of_tenant(tenant)) as r:
        recs = r.read_until(lambda recs: set(ids) <= {x.headers["id"] for x in recs}, deadline_s)
        missing = set(ids) - {x.headers["id"] for x in recs}
        assert not missing, f"{len(missing)} of {len(ids)} inserts never arrived"
        recs = r.read_to_end()
    return [x.headers["id"] for x in recs]


@pytest.fixture
def tenant(pipeline: dict[str, str]) -> Iterator[str]:
    yield f"f-{uuid.uuid4().hex[:10]}"
    gxctl("stack", "up", check=False)  # whatever happened, leave every component running


def test_inserts_made_while_connect_is_down_arrive_after_it_returns(pipeline: dict[str, str], tenant: str) -> None:
    with Writer(pipeline["GX_PG_DSN"], tenant) as w:
        w.inserted(50, "before the fault")
        gxctl("stack", "down", "--only", "connect")
        w.inserted(100, "while Connect is down")
        gxctl("stack", "up", "--only", "connect")
        connector_running()
        w.inserted(50, "after Connect is back")
    assert w.errors == []
    got = arrived(pipeline, tenant, w.ids)
    assert set(got) == set(w.ids), f"lost {len(set(w.ids) - set(got))} of {len(w.ids)}"
    # A graceful stop flushes the producer and commits Connect's source offsets before the task
    # ends, so nothing is sent twice either.
    assert len(got) == len(set(got))


def test_the_connector_survives_a_broker_restart_without_losing_an_insert(
    pipeline: dict[str, str], tenant: str
) -> None:
    with Writer(pipeline["GX_PG_DSN"], tenant) as w:
        w.inserted(50, "before the fault")
        gxctl("stack", "down", "--only", "kafka")
        w.inserted(100, "while the broker is down")
        gxctl("stack", "up", "--only", "kafka")
        w.inserted(100, "after the broker is back")
    assert w.errors == []
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
