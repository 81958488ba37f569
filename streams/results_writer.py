"""The results writer: gx.command-results -> "OutboxCommand" status, in its own consumer group.

It is separate from the submitter so that a Postgres outage never stalls submission: while the
database is down this agent retries (with backoff) and does not move its Kafka offset; results
wait on the topic. Each update is guarded in SQL by the statuses it may move the row from
(streams.status), so replays and late records never make a row contradict itself. The Kafka
offset is committed by Faust only after the event is processed, i.e. after the database commit.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
import psycopg
from prometheus_client import Counter
from psycopg_pool import AsyncConnectionPool
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from gxcommon.dlq import dead_letter_headers
from schemas.envelopes import CommandResult, parse_result
from schemas.errors import PayloadError
from streams.status import update_params

log = logging.getLogger("gx.results_writer")

RESULTS_WRITTEN = Counter("results_writer_updates_total", "Outbox rows updated from results", ["status"])
RESULTS_IGNORED = Counter("results_writer_ignored_total", "Results that would move a row backwards or found no row")
RESULTS_INVALID = Counter("results_writer_invalid_total", "Records on the results topic that are not results")

UPDATE = """
UPDATE "OutboxCommand" SET
  status = %(status)s::"OutboxStatus",
  "fabricTxId" = COALESCE(%(txid)s, "fabricTxId"),
  "commitBlock" = COALESCE(%(block)s, "commitBlock"),
  "errorCode" = %(code)s,
  error = %(error)s,
  attempts = GREATEST(attempts, %(attempts)s),
  "submittedAt" = COALESCE("submittedAt", %(submitted)s),
  "updatedAt" = now()
WHERE id = %(id)s AND status = ANY(%(from)s::"OutboxStatus"[])
"""


async def apply_result(pool: AsyncConnectionPool, r: CommandResult) -> bool:
    """Apply one result in its own transaction; True if the row changed. Retries while Postgres is down."""
    async for attempt in AsyncRetrying(retry=retry_if_exception_type(psycopg.OperationalError),
                                       wait=wait_exponential(multiplier=0.2, max=10), reraise=True):
        with attempt:
            async with pool.connection() as conn:
                cur = await conn.execute(UPDATE, update_params(r))
                return cur.rowcount == 1
    raise AssertionError("unreachable")


def install(app: faust.App, results_topic: str, dlq_topic: str, dsn: str) -> Any:
    """Register the agent on ``app``; returns it."""
    topic = app.topic(results_topic, key_type=bytes, value_type=bytes)
    dlq = app.topic(dlq_topic, key_type=bytes, value_type=bytes)
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=4, open=False)

    @app.agent(topic, name="results-writer")
    async def results_writer(stream: faust.Stream) -> None:
        await pool.open()
        async for event in stream.events():
            msg = event.message
            try:
                result = parse_result(msg.value)
            except PayloadError as e:
                RESULTS_INVALID.inc()
                await dlq.send(key=msg.key, value=msg.value, headers=dead_letter_headers(
                    str(e), "INVALID_RESULT", msg.topic, msg.partition, msg.offset, 0))
                continue
            if await apply_result(pool, result):
                RESULTS_WRITTEN.labels(result.status.value).inc()
            else:
                RESULTS_IGNORED.inc()
            log.info("result applied", extra={"commandId": result.commandId, "requestId": result.requestId,
                                              "status": result.status.value, "txid": result.fabricTxId})

    return results_writer
