"""The results writer on the real stack: results on Kafka -> outbox rows in Postgres.

A test knows the writer has handled what it sent once the writer's group has committed past those
records (Faust commits an offset only after its record is processed)."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import KafkaError, Message

from gxcommon.kafka import Producer, offset_of, partition_of
from gxsdk import enqueue
from schemas.envelopes import CommandResult, ResultStatus, Timings
from schemas.examples import example
from tests.integration.kafka_helpers import TopicReader, wait_committed_past
from tests.integration.workers import Worker, start_group_at_end


@pytest.fixture
def writer(pipeline: dict[str, str], tmp_path: Path) -> Iterator[Worker]:
    """A results writer of a group of its own (it reads gx.command-results from the start)."""
    w = Worker("results-writer", f"gx-test-{uuid.uuid4().hex[:6]}", tmp_path).launch()
    yield w
    w.stop()
    assert w.proc is not None
    if w.proc.returncode not in (0, -signal.SIGTERM):
        print(w.log()[-3000:])


def group(w: Worker) -> str:
    return f"{w.app_id}-results-writer"


def send(bootstrap: str, records: list[tuple[bytes, bytes]]) -> dict[int, int]:
    """Produce (key, value) records to gx.command-results; partition -> the last offset written."""
    last: dict[int, int] = {}

    def delivered(err: KafkaError | None, msg: Message) -> None:
        assert err is None, err
        last[partition_of(msg)] = max(last.get(partition_of(msg), -1), offset_of(msg))

    p = Producer({"bootstrap.servers": bootstrap})
    for key, value in records:
        p.produce("gx.command-results", key=key, value=value, on_delivery=delivered)
    assert p.flush(30) == 0
    return last


def handled(w: Worker, bootstrap: str, sent: dict[int, int], timeout: float = 90) -> None:
    """Until the writer has processed every record ``sent`` (its group committed past them)."""
    assert w.alive(), w.log()[-3000:]
    wait_committed_past(bootstrap, group(w), "gx.command-results", sent, timeout)
    assert w.alive(), w.log()[-3000:]


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
    pipeline: dict[str, str], writer: Worker
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
    marker = f"not a result {t}".encode()
    # The replayed SUBMITTED comes after the CONFIRMED on the same partition: once the writer is
    # past it, it has been processed too (and ignored).
    handled(
        writer,
        pipeline["GX_KAFKA_BOOTSTRAP"],
        send(pipeline["GX_KAFKA_BOOTSTRAP"], [*((k.encode(), v) for k, v in sent), (b"junk", marker)]),
    )
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
    assert writer.alive()


def test_a_result_the_database_refuses_is_dead_lettered_and_the_partition_goes_on(
    pipeline: dict[str, str], writer: Worker
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
    # A block number beyond BIGINT: valid JSON and a valid result, but Postgres refuses the value.
    huge = _result(ids["huge"], "huge", t, ResultStatus.CONFIRMED, fabricTxId="tx-h", commitBlock=2**70, attempts=1)
    after = _result(ids["next"], "next", t, ResultStatus.CONFIRMED, fabricTxId="tx-n", commitBlock=5, attempts=1)
    handled(
        writer,
        pipeline["GX_KAFKA_BOOTSTRAP"],
        send(pipeline["GX_KAFKA_BOOTSTRAP"], [(b"same", huge), (b"same", after)]),
    )
    rows = _rows(pipeline["GX_PG_DSN"], t)
    assert (rows["huge"][0], rows["next"][0]) == ("PENDING", "CONFIRMED")  # the record after it was applied
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
    assert writer.alive()


def test_a_later_confirmed_corrects_any_failure(pipeline: dict[str, str], tmp_path) -> None:
    """Issue 20, item 3 and issue 30, defects 3 and 5: a command reported FAILED that a replay (or
    the block stream) then finds applied by a transaction is corrected to CONFIRMED, counted and
    logged, whatever the FAILED said: the ledger has the last word. A FAILED never replaces a FAILED."""
    t = f"rw-{uuid.uuid4().hex[:8]}"
    codes = {
        "exhausted": "RETRIES_EXHAUSTED",
        "invalid": "ENDORSEMENT_POLICY_FAILURE",
        "rejected": "CHAINCODE_REJECTED",  # an unrecorded refusal was once reported so
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
    bootstrap = pipeline["GX_KAFKA_BOOTSTRAP"]
    try:
        failed = [
            (rid.encode(), _result(ids[rid], rid, t, ResultStatus.FAILED, errorCode=code, error="x", attempts=5))
            for rid, code in codes.items()
        ]
        handled(w, bootstrap, send(bootstrap, failed))
        assert {r[0] for r in _rows(pipeline["GX_PG_DSN"], t).values()} == {"FAILED"}
        before = {
            code: w.metric("results_writer_corrections_total", {"from_error_code": code}) for code in codes.values()
        }
        later = [  # a FAILED does not replace a FAILED
            (rid.encode(), _result(ids[rid], rid, t, ResultStatus.FAILED, errorCode="INTERNAL_ERROR", attempts=1))
            for rid in codes
        ]
        replays = [  # each found the transaction that applied it
            (
                rid.encode(),
                _result(ids[rid], rid, t, ResultStatus.CONFIRMED, fabricTxId=f"tx-{rid}", commitBlock=9, attempts=1),
            )
            for rid in codes
        ]
        handled(w, bootstrap, send(bootstrap, later))
        assert {r[3] for r in _rows(pipeline["GX_PG_DSN"], t).values()} == set(codes.values())
        handled(w, bootstrap, send(bootstrap, replays))
        rows = _rows(pipeline["GX_PG_DSN"], t)
        assert {rid: rows[rid][:5] for rid in codes} == {rid: ("CONFIRMED", f"tx-{rid}", 9, None, 5) for rid in codes}
        assert {
            code: w.metric("results_writer_corrections_total", {"from_error_code": code}) for code in codes.values()
        } == {code: before[code] + 1 for code in codes.values()}
        assert "FAILED corrected to CONFIRMED" in w.log()
    finally:
        w.stop()


def test_a_confirmed_in_a_batch_wins_over_a_failed_after_it(pipeline: dict[str, str], tmp_path) -> None:
    """Issue 30, defect 5: a batch holding a command's CONFIRMED and then a replay's FAILED wrote
    FAILED. The records are on the topic before the writer starts, so its first batch usually holds
    both (Faust may cut it anywhere: either way the rows must end CONFIRMED)."""
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
            for rid in ("first", "last")
        }
        conn.commit()
    bootstrap = pipeline["GX_KAFKA_BOOTSTRAP"]
    app_id = f"gx-test-{uuid.uuid4().hex[:6]}"
    start_group_at_end(bootstrap, f"{app_id}-results-writer", "gx.command-results")

    def confirmed(rid: str) -> tuple[bytes, bytes]:
        return b"same", _result(
            ids[rid], rid, t, ResultStatus.CONFIRMED, fabricTxId=f"tx-{rid}", commitBlock=3, attempts=1
        )

    def failed(rid: str) -> tuple[bytes, bytes]:
        return b"same", _result(ids[rid], rid, t, ResultStatus.FAILED, errorCode="RETRIES_EXHAUSTED", attempts=5)

    sent = send(bootstrap, [confirmed("first"), failed("first"), failed("last"), confirmed("last")])
    w = Worker("results-writer", app_id, tmp_path).start()
    try:
        handled(w, bootstrap, sent)
        rows = _rows(pipeline["GX_PG_DSN"], t)
        assert {rid: rows[rid][:4] for rid in ids} == {rid: ("CONFIRMED", f"tx-{rid}", 3, None) for rid in ids}
    finally:
        w.stop()
