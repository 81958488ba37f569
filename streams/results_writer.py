"""The results writer: gx.command-results -> "OutboxCommand" status, in its own consumer group.

It is separate from the submitter so that a Postgres outage never stalls submission: while the
database is down this agent retries (with backoff) and does not move its Kafka offset; results
wait on the topic. Each update is guarded in SQL by the statuses it may move the row from
(streams.status), so replays and late records never make a row contradict itself. The Kafka
offset is committed by Faust only after the event is processed, i.e. after the database commit.
"""

from __future__ import annotations

from typing import Any

import faust
import psycopg
from prometheus_client import Counter
from psycopg_pool import AsyncConnectionPool
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from gxcommon import logs
from gxcommon.dlq import dead_letter_headers
from schemas.envelopes import CommandResult, parse_result
from schemas.errors import PayloadError
from streams.status import update_params

log = logs.get("gx.results_writer")

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
  "kafkaPartition" = COALESCE(%(partition)s, "kafkaPartition"),
  "kafkaOffset" = COALESCE(%(offset)s, "kafkaOffset"),
  "validationCode" = COALESCE(%(validation)s, "validationCode"),
  "attemptLog" = COALESCE(%(log)s::jsonb, "attemptLog"),
  "updatedAt" = now()
WHERE id = %(id)s AND status = ANY(%(from)s::"OutboxStatus"[])
"""


# Errors of the system, not of the record: Postgres down (OperationalError) or the schema not what
# this code expects (ProgrammingError: a migration not applied). Retried for ever, offset held.
SYSTEMIC = (psycopg.OperationalError, psycopg.ProgrammingError)


def _log_retry(state: Any) -> None:
    log.warning("results writer waiting for Postgres", attempt=state.attempt_number,
                error=str(state.outcome.exception()).strip().splitlines()[0][:300])


async def apply_result(pool: AsyncConnectionPool, r: CommandResult) -> bool:
    """Apply one result in its own transaction; True if the row changed.

    Retries while the error is systemic (SYSTEMIC); raises psycopg.Error for one caused by this
    record (a DataError, an IntegrityError), which the agent dead-letters.
    """
    async for attempt in AsyncRetrying(retry=retry_if_exception_type(SYSTEMIC), before_sleep=_log_retry,
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
                await (await dlq.send(key=msg.key, value=msg.value, force=True, headers=dead_letter_headers(
                    str(e), "INVALID_RESULT", msg.topic, msg.partition, msg.offset, 0)))
                continue
            try:
                changed = await apply_result(pool, result)
            except psycopg.Error as e:
                # This record cannot be written (e.g. a value the column refuses): dead-letter it
                # with the reason instead of skipping it or stopping the partition.
                RESULTS_INVALID.inc()
                reason = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
                log.error("result not applied, dead-lettered", requestId=result.requestId, reason=reason,
                          partition=msg.partition, offset=msg.offset)
                await (await dlq.send(key=msg.key, value=msg.value, force=True, headers=dead_letter_headers(
                    reason, "RESULT_NOT_APPLIED", msg.topic, msg.partition, msg.offset, 1)))
                continue
            if changed:
                RESULTS_WRITTEN.labels(result.status.value).inc()
            else:
                RESULTS_IGNORED.inc()
            log.info("result applied", requestId=result.requestId, commandId=result.commandId,
                     status=result.status.value, txId=result.fabricTxId, changed=changed,
                     partition=msg.partition, offset=msg.offset)

    @app.on_before_shutdown.connect
    async def close_pool(app_: faust.App, **_: Any) -> None:
        await pool.close()

    return results_writer
