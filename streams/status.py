"""How results change an outbox row's status, one at a time (:func:`next_status`) and a batch at a
time (:func:`coalesce`). Pure.

Statuses only move forward: PENDING/LOCKED -> SUBMITTED -> CONFIRMED | FAILED, so a replayed or
late result (a SUBMITTED arriving after CONFIRMED, the same result twice after a crash) can never
produce a contradictory row. One exception, and it is a correction, not a contradiction: a
CONFIRMED naming its transaction replaces any FAILED, because the ledger has the last word: a
replay (`gxctl dlq replay`, a crash, a Connect redelivery) or the block stream (streams.corrector)
found the transaction that applied the command, whatever the FAILED said (a timeout, an invalid
transaction, a refusal the chaincode did not record). A rejection the chaincode did record is final
on the ledger too: no transaction can apply that command later, so no true CONFIRMED ever comes for
it. Nothing replaces CONFIRMED, and a FAILED never replaces a FAILED (the first final word stays).
REJECTED (the envelope or payload was invalid) is stored as FAILED with its errorCode: the table's
OutboxStatus has no REJECTED.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from schemas.envelopes import CommandResult, ResultStatus

FINAL = ("CONFIRMED", "FAILED")
M = TypeVar("M")


def row_status(result: ResultStatus) -> str:
    return "FAILED" if result is ResultStatus.REJECTED else result.value


def allowed_from(result: ResultStatus) -> tuple[str, ...]:
    """The row statuses a result may move a row from (besides a correction, see :func:`corrects`)."""
    if result is ResultStatus.SUBMITTED:
        return ("PENDING", "LOCKED")
    return ("PENDING", "LOCKED", "SUBMITTED")


def corrects(r: CommandResult) -> bool:
    """Whether ``r`` may replace a FAILED row: a CONFIRMED naming the transaction that applied it."""
    return r.status is ResultStatus.CONFIRMED and bool(r.fabricTxId)


def next_status(current: str, result: CommandResult | ResultStatus, current_error: str | None = None) -> str | None:
    """The row's new status, or None if the result must be ignored (it would move it backwards).
    ``current_error`` (the row's errorCode) does not change the answer: any FAILED is corrected."""
    status = result.status if isinstance(result, CommandResult) else result
    if current in allowed_from(status):
        return row_status(status)
    if isinstance(result, CommandResult) and corrects(result) and current == "FAILED":
        return "CONFIRMED"
    return None


def coalesce(batch: list[tuple[M, CommandResult]]) -> list[tuple[M, CommandResult]]:
    """One result per command, in the order of each one's chosen result, such that writing it
    leaves the row's status and errorCode (and a CONFIRMED's transaction and block) as writing the
    command's results one at a time in batch order would, whatever the row held before:

    - the first CONFIRMED naming its transaction, if there is one (it wins over any FAILED,
      before or after it, and nothing replaces it);
    - else the first final result (a FAILED never replaces a FAILED);
    - else the first SUBMITTED (a SUBMITTED never replaces a SUBMITTED).

    The chosen result takes over what the others add and it lacks: the earliest submittedAt, the
    attempt log of the first final result that has one (a correction from the block stream carries
    none), and the most attempts.
    """
    chosen: dict[str, int] = {}
    for i, (_, r) in enumerate(batch):
        j = chosen.get(r.commandId)
        if j is None or _rank(r) > _rank(batch[j][1]):
            chosen[r.commandId] = i
    out = []
    for i in sorted(chosen.values()):
        msg, r = batch[i]
        mine = [x for _, x in batch if x.commandId == r.commandId]
        out.append((msg, _merged(r, mine)))
    return out


def _rank(r: CommandResult) -> int:
    """Which result of a command a batch keeps: the highest rank, the first of equal ones."""
    if corrects(r):
        return 2
    return 1 if r.status.final else 0


def _merged(r: CommandResult, mine: list[CommandResult]) -> CommandResult:
    update: dict[str, Any] = {}
    submitted = next((x.timings.submittedAt for x in mine if x.timings.submittedAt is not None), None)
    if r.timings.submittedAt is None and submitted is not None:
        update["timings"] = r.timings.model_copy(update={"submittedAt": submitted})
    if not r.attemptLog:
        log = next((x.attemptLog for x in mine if x.status.final and x.attemptLog), None)
        if log is not None:
            update["attemptLog"] = log
    most = max(x.attempts for x in mine)
    if most > r.attempts:
        update["attempts"] = most
    return r.model_copy(update=update) if update else r


def update_params(r: CommandResult) -> dict[str, object]:
    """Parameters of the guarded UPDATE (see streams.results_writer.UPDATE)."""
    return {
        "id": r.commandId,
        "status": row_status(r.status),
        "from": list(allowed_from(r.status)),
        "correct": corrects(r),
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
