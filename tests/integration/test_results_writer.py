"""The results writer on the real stack: results on Kafka -> outbox rows in Postgres."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from gxcommon.kafka import Producer
from gxsdk import enqueue
from schemas.envelopes import CommandResult, ResultStatus, Timings
from schemas.examples import example
from tests.integration.kafka_helpers import TopicReader
from tests.integration.workers import stop_process


@pytest.fixture
def writer(pipeline: dict[str, str], tmp_path) -> Iterator[subprocess.Popen]:
    log = open(tmp_path / "results-writer.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gxctl.main", "run", "results-writer"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "GX_APP_ID": f"gx-test-{uuid.uuid4().hex[:6]}"},
    )
    yield proc
    stop_process(proc)
    log.close()
    if proc.returncode not in (0, -signal.SIGTERM):
        print((tmp_path / "results-writer.log").read_text()[-3000:])


def _result(cmd_id: str, rid: str, tenant: str, status: ResultStatus, **kw) -> bytes:
    return (
        CommandResult(commandId=cmd_id, requestId=rid, tenantId=tenant, key="k", status=status, **kw)
        .model_dump_json()
        .encode()
    )


def _rows(dsn: str, tenant: str) -> dict[str, tuple]:
    with psycopg.connect(dsn) as conn:
        return {
            r[0]: r[1:]
            for r in conn.execute(
                'SELECT "requestId", status::text, "fabricTxId", "commitBlock", "errorCode", attempts, "submittedAt"'
                ' FROM "OutboxCommand" WHERE "tenantId" = %s',
                (tenant,),
            ).fetchall()
        }


def test_results_move_rows_forward_only_and_bad_records_are_dead_lettered(
    pipeline: dict[str, str], writer: subprocess.Popen
) -> None:
    t = f"rw-{uuid.uuid4().hex[:8]}"
    ids = {}
    with psycopg.connect(pipeline["GX_PG_DSN"]) as conn:
        for rid in ("ok", "bad", "business"):
            ids[rid] = enqueue(
                conn,
                tenant_id=t,
                service="s",
                command_type="CREATE_USER",
                request_id=rid,
                payload=example("CREATE_USER", f"{t}-{rid}"),
            ).id
        conn.commit()
    now = datetime.now(UTC)
    p = Producer({"bootstrap.servers": pipeline["GX_KAFKA_BOOTSTRAP"]})
    sent = [
        ("ok", _result(ids["ok"], "ok", t, ResultStatus.SUBMITTED, attempts=1, timings=Timings(submittedAt=now))),
        (
            "ok",
            _result(
                ids["ok"],
                "ok",
                t,
                ResultStatus.CONFIRMED,
                fabricTxId="tx-1",
                commitBlock=42,
                attempts=1,
                validationCode="VALID",
            ),
        ),
        # A replay after the final result must not move the row back.
        ("ok", _result(ids["ok"], "ok", t, ResultStatus.SUBMITTED, attempts=1)),
        (
            "bad",
            _result(
                ids["bad"],
                "bad",
                t,
                ResultStatus.REJECTED,
                errorCode="INVALID_PAYLOAD",
                error="CREATE_USER payload: email: String should match pattern",
            ),
        ),
        (
            "business",
            _result(
                ids["business"],
                "business",
                t,
                ResultStatus.FAILED,
                errorCode="CHAINCODE_REJECTED",
                error="chaincode response 500, user exists",
                attempts=1,
            ),
        ),
    ]
    for key, value in sent:
        p.produce("gx.command-results", key=key.encode(), value=value)
    marker = f"not a result {t}".encode()
    p.produce("gx.command-results", key=b"junk", value=marker)
    assert p.flush(30) == 0
    end = time.monotonic() + 90
    rows = {}
    while time.monotonic() < end:
        rows = _rows(pipeline["GX_PG_DSN"], t)
        if rows["ok"][0] == "CONFIRMED" and rows["bad"][0] == "FAILED" and rows["business"][0] == "FAILED":
            break
        assert writer.poll() is None, "results writer exited"
        time.sleep(0.5)
    time.sleep(2)  # the replayed SUBMITTED (after CONFIRMED on the same partition) has been processed too
    rows = _rows(pipeline["GX_PG_DSN"], t)
    assert rows["ok"][:5] == ("CONFIRMED", "tx-1", 42, None, 1)
    assert rows["ok"][5] is not None  # submittedAt kept from the SUBMITTED result
    assert rows["bad"][:4] == ("FAILED", None, None, "INVALID_PAYLOAD")
    assert rows["business"][:4] == ("FAILED", None, None, "CHAINCODE_REJECTED")
    r = TopicReader(pipeline["GX_KAFKA_BOOTSTRAP"], "gx.commands.dlq", lambda rec: rec.raw == marker)
    try:
        got = r.read_until(lambda recs: bool(recs), 60)
    finally:
        r.close()
    assert got, "invalid result record was not dead-lettered"
    h = got[0].headers
    assert h["errorCode"] == "INVALID_RESULT" and h["sourceTopic"] == "gx.command-results"
    assert "Invalid JSON" in h["reason"] and h["sourceOffset"].isdigit()
    assert writer.poll() is None


def test_a_result_the_database_refuses_is_dead_lettered_and_the_partition_goes_on(
    pipeline: dict[str, str], writer: subprocess.Popen
) -> None:
    t = f"rw-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pipeline["GX_PG_DSN"]) as conn:
        ids = {
            rid: enqueue(
                conn,
                tenant_id=t,
                service="s",
                command_type="CREATE_USER",
                request_id=rid,
                payload=example("CREATE_USER", f"{t}-{rid}"),
            ).id
            for rid in ("huge", "next")
        }
        conn.commit()
    p = Producer({"bootstrap.servers": pipeline["GX_KAFKA_BOOTSTRAP"]})
    # A block number beyond BIGINT: valid JSON and a valid result, but Postgres refuses the value.
    p.produce(
        "gx.command-results",
        key=b"same",
        value=_result(ids["huge"], "huge", t, ResultStatus.CONFIRMED, fabricTxId="tx-h", commitBlock=2**70, attempts=1),
    )
    p.produce(
        "gx.command-results",
        key=b"same",
        value=_result(ids["next"], "next", t, ResultStatus.CONFIRMED, fabricTxId="tx-n", commitBlock=5, attempts=1),
    )
    assert p.flush(30) == 0
    end = time.monotonic() + 90
    while _rows(pipeline["GX_PG_DSN"], t)["next"][0] != "CONFIRMED":
        assert time.monotonic() < end and writer.poll() is None, "the record after the refused one was not applied"
        time.sleep(0.5)
    assert _rows(pipeline["GX_PG_DSN"], t)["huge"][0] == "PENDING"
    r = TopicReader(
        pipeline["GX_KAFKA_BOOTSTRAP"],
        "gx.commands.dlq",
        lambda rec: (
            isinstance(rec.value, dict) and rec.value.get("requestId") == "huge" and rec.value.get("tenantId") == t
        ),
    )
    try:
        got = r.read_until(lambda recs: bool(recs), 60)
    finally:
        r.close()
    assert got and got[0].headers["errorCode"] == "RESULT_NOT_APPLIED"
    assert got[0].headers["reason"].startswith("NumericValueOutOfRange")
    assert writer.poll() is None


def test_a_later_confirmed_corrects_a_failure_that_was_not_the_ledgers_answer(
    pipeline: dict[str, str], tmp_path
) -> None:
    """Issue 20, item 3: a command reported FAILED (RETRIES_EXHAUSTED, an invalid transaction) that
    a replay then finds applied by a transaction is corrected to CONFIRMED, counted and logged;
    a chaincode rejection or an invalid payload is never overturned."""
    from tests.integration.workers import Worker

    t = f"rw-{uuid.uuid4().hex[:8]}"
    codes = {
        "exhausted": "RETRIES_EXHAUSTED",
        "invalid": "ENDORSEMENT_POLICY_FAILURE",
        "rejected": "CHAINCODE_REJECTED",
        "payload": "INVALID_PAYLOAD",
    }
    with psycopg.connect(pipeline["GX_PG_DSN"]) as conn:
        ids = {
            rid: enqueue(
                conn,
                tenant_id=t,
                service="s",
                command_type="CREATE_USER",
                request_id=rid,
                payload=example("CREATE_USER", f"{t}-{rid}"),
            ).id
            for rid in codes
        }
        conn.commit()
    w = Worker("results-writer", f"gx-test-{uuid.uuid4().hex[:6]}", tmp_path).start()
    try:
        p = Producer({"bootstrap.servers": pipeline["GX_KAFKA_BOOTSTRAP"]})
        for rid, code in codes.items():
            p.produce(
                "gx.command-results",
                key=rid.encode(),
                value=_result(ids[rid], rid, t, ResultStatus.FAILED, errorCode=code, error="x", attempts=5),
            )
        assert p.flush(30) == 0
        end = time.monotonic() + 90
        while {r[0] for r in _rows(pipeline["GX_PG_DSN"], t).values()} != {"FAILED"}:
            assert time.monotonic() < end, _rows(pipeline["GX_PG_DSN"], t)
            time.sleep(0.3)
        before = w.metric("results_writer_corrections_total", {"from_error_code": "RETRIES_EXHAUSTED"})
        for rid in codes:  # the replays: each found the transaction that applied it
            p.produce(
                "gx.command-results",
                key=rid.encode(),
                value=_result(
                    ids[rid], rid, t, ResultStatus.CONFIRMED, fabricTxId=f"tx-{rid}", commitBlock=9, attempts=1
                ),
            )
        assert p.flush(30) == 0
        end = time.monotonic() + 90
        while _rows(pipeline["GX_PG_DSN"], t)["invalid"][0] != "CONFIRMED":
            assert time.monotonic() < end, _rows(pipeline["GX_PG_DSN"], t)
            time.sleep(0.3)
        time.sleep(2)  # the records after it on other partitions are applied too
        rows = _rows(pipeline["GX_PG_DSN"], t)
        assert rows["exhausted"][:4] == ("CONFIRMED", "tx-exhausted", 9, None)
        assert rows["invalid"][:4] == ("CONFIRMED", "tx-invalid", 9, None)
        assert rows["rejected"][:4] == ("FAILED", None, None, "CHAINCODE_REJECTED")
        assert rows["payload"][:4] == ("FAILED", None, None, "INVALID_PAYLOAD")
        assert w.metric("results_writer_corrections_total", {"from_error_code": "RETRIES_EXHAUSTED"}) == before + 1
        assert w.metric("results_writer_corrections_total", {"from_error_code": "ENDORSEMENT_POLICY_FAILURE"}) == 1
        assert "FAILED corrected to CONFIRMED" in w.log()
    finally:
        w.stop()
