"""The results writer: gx.command-results -> "OutboxCommand" status, in its own consumer group.

It is separate from the submitter so that a Postgres outage never stalls submission: while the
database is down this agent retries (with backoff) and does not move its Kafka offset; results
wait on the topic. Each update is guarded in SQL by the statuses it may move the row from
(streams.status), so replays and late records never make a row contradict itself. The Kafka
offset is committed by Faust only after the event is processed, i.e. after the database commit.
"""

from __future__ import annotations

import sys
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
from streams.status import coalesce, update_params

log = logs.get("gx.results_writer")

RESULTS_WRITTEN = Counter("results_writer_updates_total", "Outbox rows updated from results", ["status"])
RESULTS_IGNORED = Counter("results_writer_ignored_total", "Results that would move a row backwards or found no row")
RESULTS_INVALID = Counter("results_writer_invalid_total", "Records on the results topic that are not results")
RESULTS_CORRECTED = Counter(
    "results_writer_corrections",
    "FAILED rows replaced by a later CONFIRMED (the ledger had applied the command)",
    ["from_error_code"],
)

# The guard (streams.status): forward moves only, or a CONFIRMED naming its transaction correcting
# any FAILED. The row is locked first so the old status can be returned with it.
UPDATE = """
UPDATE "OutboxCommand" o SET
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
FROM (SELECT id, status AS old, "errorCode" AS old_code FROM "OutboxCommand" WHERE id = %(id)s FOR UPDATE) prev
WHERE o.id = prev.id AND (prev.old = ANY(%(from)s::"OutboxStatus"[]) OR (%(correct)s AND prev.old = 'FAILED'))
RETURNING prev.old::text, prev.old_code
"""


# Errors of the system, not of the record: Postgres down (OperationalError) or the schema not what
# this code expects (ProgrammingError: a migration not applied). Retried for ever, offset held.
SYSTEMIC = (psycopg.OperationalError, psycopg.ProgrammingError)


def _log_retry(state: Any) -> None:
    log.warning(
        "results writer waiting for Postgres",
        attempt=state.attempt_number,
        error=str(state.outcome.exception()).strip().splitlines()[0][:300],
    )


async def apply_results(pool: AsyncConnectionPool, results: list[CommandResult]) -> list[tuple[str, str | None] | None]:
    """Apply results in one transaction (pipelined); for each, the row's previous (status, errorCode)
    if it changed, else None.

    Retries while the error is systemic (SYSTEMIC); raises psycopg.Error for one caused by a record
    (a DataError, an IntegrityError): the caller then applies them one by one to find it.
    """
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(SYSTEMIC),
        before_sleep=_log_retry,
        wait=wait_exponential(multiplier=0.2, max=10),
        reraise=True,
    ):
        with attempt:
            async with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                await cur.executemany(UPDATE, [update_params(r) for r in results], returning=True)
                changed: list[tuple[str, str | None] | None] = []
                while True:
                    row = await cur.fetchone()
                    changed.append((row[0], row[1]) if row is not None else None)
                    if not cur.nextset():
                        return changed
    raise AssertionError("unreachable")


def install(
    app: faust.App, results_topic: str, dlq_topic: str, dsn: str, batch: int = 500, within: float = 0.05
) -> Any:
    """Register the agent on ``app``; returns it. Results are applied ``batch`` at a time, or what
    arrived within ``within`` seconds, in one transaction each, one result per command
    (streams.status.coalesce: the rows end as if each result had been written on its own)."""
    topic = app.topic(results_topic, key_type=bytes, value_type=bytes)
    dlq = app.topic(dlq_topic, key_type=bytes, value_type=bytes)
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=4, open=False)

    async def dead_letter(msg: Any, reason: str, code: str, attempts: int) -> None:
        await (
            await dlq.send(
                key=msg.key,
                value=msg.value,
                force=True,
                headers=dead_letter_headers(reason, code, msg.topic, msg.partition, msg.offset, attempts),
            )
        )

    async def write(items: list[tuple[Any, CommandResult]]) -> None:
        try:
            changed = await apply_results(pool, [r for _, r in items])
        except psycopg.Error:
            if len(items) > 1:  # find the record Postgres refuses; the others go in
                for item in items:
                    await write([item])
                return
            msg, result = items[0]
            e = sys.exc_info()[1]
            RESULTS_INVALID.inc()
            reason = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
            log.error(
                "result not applied, dead-lettered",
                requestId=result.requestId,
                reason=reason,
                partition=msg.partition,
                offset=msg.offset,
            )
            await dead_letter(msg, reason, "RESULT_NOT_APPLIED", 1)
            return
        for (msg, result), before in zip(items, changed):
            (RESULTS_WRITTEN.labels(result.status.value) if before else RESULTS_IGNORED).inc()
            if before is not None and before[0] == "FAILED":
                RESULTS_CORRECTED.labels(before[1] or "").inc()
                log.warning(
                    "FAILED corrected to CONFIRMED: the ledger applied the command",
                    requestId=result.requestId,
                    commandId=result.commandId,
                    previousErrorCode=before[1],
                    txId=result.fabricTxId,
                    block=result.commitBlock,
                )
            # DEBUG: the submitter's "final" line is the one INFO line per command.
            log.debug(
                "result applied",
                requestId=result.requestId,
                commandId=result.commandId,
                status=result.status.value,
                txId=result.fabricTxId,
                changed=before is not None,
                partition=msg.partition,
                offset=msg.offset,
            )

    # (Faust passes a Stream; its agent type names StreamT, which lacks take_events.)
    @app.agent(topic, name="results-writer")  # type: ignore[arg-type]
    async def results_writer(stream: faust.Stream) -> None:
        await pool.open()
        # take_events acks a batch when the loop body returns, so the body handles every error
        # itself: systemic ones are retried inside, a refused record is dead-lettered.
        async for events in stream.take_events(batch, within=within):
            items: list[tuple[Any, CommandResult]] = []
            for event in events:
                msg = event.message
                try:
                    items.append((msg, parse_result(msg.value or b"")))
                except PayloadError as e:
                    RESULTS_INVALID.inc()
                    await dead_letter(msg, str(e), "INVALID_RESULT", 0)
            if items:
                try:
                    await write(coalesce(items))
                except Exception as e:  # a bug: keep every record (dead letters can be replayed)
                    log.error("results batch failed, dead-lettering it", error=f"{type(e).__name__}: {e}")
                    for msg, _ in items:
                        await dead_letter(msg, f"{type(e).__name__}: {e}", "RESULT_NOT_APPLIED", 1)

    # (mypy cannot match a coroutine function to Faust's handler type, which names `signal`.)
    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def close_pool(app_: faust.App, **_: Any) -> None:
        await pool.close()

    return results_writer
