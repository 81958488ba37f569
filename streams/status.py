"""How a result changes an outbox row's status. Pure.

Statuses only move forward: PENDING/LOCKED -> SUBMITTED -> CONFIRMED | FAILED. A final status is
never changed again, so a replayed or late result (a SUBMITTED arriving after CONFIRMED, the same
result twice after a crash) can never produce a contradictory row. REJECTED (the envelope or
payload was invalid) is stored as FAILED with its errorCode: the table's OutboxStatus has no
REJECTED.
"""

from __future__ import annotations

import json

from schemas.envelopes import CommandResult, ResultStatus

FINAL = ("CONFIRMED", "FAILED")


def row_status(result: ResultStatus) -> str:
    return "FAILED" if result is ResultStatus.REJECTED else result.value


def allowed_from(result: ResultStatus) -> tuple[str, ...]:
    """The row statuses a result may move a row from."""
    if result is ResultStatus.SUBMITTED:
        return ("PENDING", "LOCKED")
    return ("PENDING", "LOCKED", "SUBMITTED")


def next_status(current: str, result: ResultStatus) -> str | None:
    """The row's new status, or None if the result must be ignored (it would move it backwards)."""
    return row_status(result) if current in allowed_from(result) else None


def update_params(r: CommandResult) -> dict[str, object]:
    """Parameters of the guarded UPDATE (see streams.results_writer.UPDATE)."""
    return {"id": r.commandId, "status": row_status(r.status), "from": list(allowed_from(r.status)),
            "txid": r.fabricTxId, "block": r.commitBlock, "code": r.errorCode, "error": r.error,
            "attempts": r.attempts, "submitted": r.timings.submittedAt, "partition": r.sourcePartition,
            "offset": r.sourceOffset, "validation": r.validationCode,
            "log": json.dumps([a.model_dump(mode="json") for a in r.attemptLog]) if r.attemptLog else None}
