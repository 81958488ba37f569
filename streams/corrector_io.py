"""The corrector's edges (streams.corrector): the outbox rows of the events' commands, read from
Postgres in one query per check, and the correcting results, published to gx.command-results."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import psycopg
from tenacity import Retrying, retry_if_exception_type, wait_exponential

from gxcommon.kafka import Producer
from gxcommon.logs import get
from schemas.envelopes import CommandResult
from streams.corrections import OutboxRow, tx_ids

log = get("gx.corrector")

COLUMNS = (
    'o.id, o."tenantId", o."requestId", o."partitionKey", o.status::text, o."errorCode", o."fabricTxId",'
    ' o."attemptLog", o.attempts'
)
# By the outbox's unique key ("OutboxCommand_tenantId_requestId_key"): an index probe per key.
BY_KEY = f"""
SELECT {COLUMNS} FROM unnest(%s::text[], %s::text[]) AS k(tenant, rid)
JOIN "OutboxCommand" o ON o."tenantId" = k.tenant AND o."requestId" = k.rid
"""
# Events published before the tenant header: FAILED rows only (through the status index), since no
# index leads with the requestId; the transaction then tells which one is the command's.
FAILED_BY_REQUEST = f"""
SELECT {COLUMNS} FROM "OutboxCommand" o WHERE o.status = 'FAILED' AND o."requestId" = ANY(%s::text[])
"""
# Errors of the system, not of a key (as streams.results_writer.SYSTEMIC): Postgres away, or a
# schema or grant not what this code expects. Retried, with backoff, until they pass.
SYSTEMIC = (psycopg.OperationalError, psycopg.ProgrammingError)


class OutboxLookup:
    """The outbox rows of a set of (tenant or None, requestId) keys (see streams.corrections).

    Calls are retried while Postgres is away or refuses for a systemic reason (logged, counted in
    ``failures`` until one passes); the connection is made anew after a failure."""

    def __init__(self, connect: Callable[[], psycopg.Connection[Any]], chunk: int = 5000) -> None:
        self._connect, self._chunk = connect, chunk
        self._conn: psycopg.Connection[Any] | None = None
        self.failures = 0  # consecutive failed attempts

    def __call__(self, keys: Collection[tuple[str | None, str]]) -> list[OutboxRow]:
        for attempt in Retrying(
            retry=retry_if_exception_type(SYSTEMIC),
            wait=wait_exponential(multiplier=0.2, max=10),
            before_sleep=self._failed,
            reraise=True,
        ):
            with attempt:
                rows = self._rows(keys)
        self.failures = 0
        return rows

    def _rows(self, keys: Collection[tuple[str | None, str]]) -> list[OutboxRow]:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        known = sorted((t, r) for t, r in keys if t is not None)
        bare = sorted({r for t, r in keys if t is None})
        found: list[tuple[Any, ...]] = []
        for i in range(0, len(known), self._chunk):
            part = known[i : i + self._chunk]
            found += self._conn.execute(BY_KEY, ([t for t, _ in part], [r for _, r in part])).fetchall()
        for i in range(0, len(bare), self._chunk):
            found += self._conn.execute(FAILED_BY_REQUEST, (bare[i : i + self._chunk],)).fetchall()
        return [
            OutboxRow(id_, tenant, rid, key, status, code, tx_ids(txid, attempt_log), attempts)
            for id_, tenant, rid, key, status, code, txid, attempt_log, attempts in found
        ]

    def _failed(self, state: Any) -> None:
        self.failures += 1
        if self._conn is not None:
            self._conn.close()
        log.warning(
            "corrector waiting for Postgres",
            attempt=state.attempt_number,
            error=str(state.outcome.exception()).strip().splitlines()[0][:300],
        )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


class ResultPublisher:
    """Publishes results to the results topic, keyed by the command's key (the Java client's
    partitioner, as every producer of the pipeline: a command's results share a partition)."""

    def __init__(self, bootstrap: str, topic: str, timeout: float = 30.0) -> None:
        self.topic, self.timeout = topic, timeout
        self._producer = Producer(
            {"bootstrap.servers": bootstrap, "enable.idempotence": True, "partitioner": "murmur2_random"}
        )

    def __call__(self, results: list[CommandResult]) -> list[bool]:
        """Whether each result was acknowledged by Kafka within the timeout."""
        delivered = [False] * len(results)

        def on_delivery(i: int) -> Callable[[Any, Any], None]:
            def done(err: Any, _msg: Any) -> None:
                delivered[i] = err is None
                if err is not None:
                    log.warning("correction not published", requestId=results[i].requestId, error=str(err))

            return done

        for i, r in enumerate(results):
            try:
                self._producer.produce(
                    self.topic, key=r.key.encode(), value=r.model_dump_json().encode(), on_delivery=on_delivery(i)
                )
            except BufferError:  # the local queue is full: this one goes again at the next check
                break
        self._producer.flush(self.timeout)
        return delivered

    def close(self) -> None:
        self._producer.flush(self.timeout)
