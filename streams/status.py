"""How a result changes an outbox row's status. Pure.

Statuses only move forward: PENDING/LOCKED -> SUBMITTED -> CONFIRMED | FAILED, so a replayed or
late result (a SUBMITTED arriving after CONFIRMED, the same result twice after a crash) can never
produce a contradictory row. One exception, and it is a correction, not a contradiction: a
CONFIRMED naming its transaction replaces a FAILED that only said the submitter could not tell
(RETRIES_EXHAUSTED, an invalid transaction, an internal error), because the ledger has the last
word: a replay (`gxctl dlq replay`, a crash) found the transaction that applied the command. A
FAILED that is the ledger's or the schema's own answer (streams.outcome.FINAL_WORDS: a chaincode
rejection, an invalid payload) never changes. REJECTED (the envelope or payload was invalid) is
stored as FAILED with its errorCode: the table's OutboxStatus has no REJECTED.
"""

from __future__ import annotations

import json

from schemas.envelopes import CommandResult, ResultStatus
from streams.outcome import FINAL_WORDS

FINAL = ("CONFIRMED", "FAILED")


def row_status(result: ResultStatus) -> str:
    return "FAILED" if result is ResultStatus.REJECTED else result.value


def allowed_from(result: ResultStatus) -> tuple[str, ...]:
    """The row statuses a result may move a row from (besides a correction, see :func:`corrects`)."""
    if result is ResultStatus.SUBMITTED:
        return ("PENDING", "LOCKED")
    return ("PENDING", "LOCKED", "SUBMITTED")


def corrects(r: CommandResult) -> bool:
    """Whether ``r`` may replace a FAILED row whose errorCode is not in FINAL_WORDS."""
    return r.status is ResultStatus.CONFIRMED and bool(r.fabricTxId)


def next_status(current: str, result: CommandResult | ResultStatus, current_error: str | None = None) -> str | None:
    """The row's new status, or None if the result must be ignored (it would move it backwards)."""
    status = result.status if isinstance(result, CommandResult) else result
    if current in allowed_from(status):
        return row_status(status)
    if (
        isinstance(result, CommandResult)
        and corrects(result)
        and current == "FAILED"
        and current_error not in FINAL_WORDS
    ):
        return "CONFIRMED"
    return None


def update_params(r: CommandResult) -> dict[str, object]:
    """Parameters of the guarded UPDATE (see streams.results_writer.UPDATE)."""
    return {
        "id": r.commandId,
        "status": row_status(r.status),
        "from": list(allowed_from(r.status)),
        "correct": corrects(r),
        "final_words": list(FINAL_WORDS),
        "txid": r.fabricTxId,
        "block": r.commitBlock,
        "code": r.errorCode,
        "error": r.error,
        "attempts": r.attempts,
        "submitted": r.timings.submittedAt,
        "partition": r.sourcePartition,
        "offset": r.sourceOffset,
        "validation": r.validationCode,
        "log": json.dumps([a.model_dump(mode="json") for a in r.attemptLog]) if r.attemptLog else None,
    }
