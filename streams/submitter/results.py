"""The results a command ends in, and the entries of its attempt log. Pure: the time is an argument."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from fabric_gateway import CommitError, GatewayError, Verdict
from fabric_gateway.classify import chaincode_message
from schemas.envelopes import Attempt, CommandResult, ResultStatus, Timings
from streams.outcome import ErrorCode, Outcome
from streams.submitter.command import Command
from streams.submitter.record import Final, Record
from streams.submitter.state import AttemptState, Found


def error_code(err: GatewayError | None) -> str | None:
    """The validation code of a transaction committed invalid, else the gRPC status's name."""
    if isinstance(err, CommitError):
        return err.validation_code
    return err.code.name if err is not None and err.code is not None else None


def outcome_of(verdict: Verdict) -> str:
    """How the attempt log names a failed attempt's verdict (a recorded rejection is no failed
    attempt: its transaction is COMMITTED)."""
    if verdict is Verdict.REFUSED:
        return "CHAINCODE_REFUSED"
    return "PERMANENT" if verdict.final else "RETRYABLE"


def attempt_entry(n: int, err: GatewayError | None, outcome: str, at: datetime, tx_id: str | None = None) -> Attempt:
    """The log entry of attempt ``n``: failed with ``err``, or (``err`` None) ended in ``tx_id``'s commit."""
    return Attempt(
        attempt=n,
        txId=tx_id or (err.tx_id if err else None) or None,
        outcome=outcome,
        errorClass=type(err).__name__ if err else None,
        code=error_code(err),
        message=((chaincode_message(err) or str(err))[:500] if err else None),
        at=at,
    )


def command_result(
    cmd: Command,
    status: ResultStatus,
    attempts: int,
    submitted: datetime | None,
    now: datetime,
    *,
    tx_id: str | None = None,
    block: int | None = None,
    validation: str | None = None,
    code: str | None = None,
    error: str | None = None,
    log: Sequence[Attempt] = (),
) -> CommandResult:
    """``cmd``'s result with ``status`` at ``now``: committedAt only when CONFIRMED."""
    return CommandResult(
        commandId=cmd.env.id,
        requestId=cmd.env.requestId,
        tenantId=cmd.env.tenantId,
        key=cmd.env.key,
        status=status,
        fabricTxId=tx_id,
        commitBlock=block,
        validationCode=validation,
        errorCode=code,
        error=error,
        attempts=attempts,
        sourcePartition=cmd.rec.partition,
        sourceOffset=cmd.rec.offset,
        timings=Timings(
            receivedAt=cmd.received,
            submittedAt=submitted,
            committedAt=now if status is ResultStatus.CONFIRMED else None,
            durationMs=(now - cmd.received).total_seconds() * 1000,
        ),
        attemptLog=list(log),
    )


def progress(state: AttemptState, tx_id: str, now: datetime) -> CommandResult:
    """The SUBMITTED result after ``tx_id`` was sent."""
    return command_result(state.command, ResultStatus.SUBMITTED, state.attempt, state.submitted_at, now, tx_id=tx_id)


def committed(state: AttemptState, found: Found, now: datetime) -> Final:
    """The result of a transaction found committed VALID: CONFIRMED, or FAILED (CHAINCODE_REJECTED)
    when the chaincode recorded a rejection in it, which every replay answers alike."""
    s = found.status
    rejection = found.answer.rejection
    return Final(
        command_result(
            state.command,
            ResultStatus.FAILED if rejection is not None else ResultStatus.CONFIRMED,
            state.attempt,
            state.submitted_at,
            now,
            tx_id=s.tx_id,
            block=s.block,
            validation=s.code,
            code=ErrorCode.CHAINCODE_REJECTED if rejection is not None else None,
            error=rejection,
            log=state.log,
        )
    )


def failed(state: AttemptState, verdict: Verdict, outcome: Outcome, now: datetime) -> Final:
    """FAILED after ``state.last_error``, as ``outcome`` says (its error code, its dead letter).
    The error is the chaincode's own words when it threw."""
    e = state.last_error
    assert e is not None, "a failure follows a failed attempt"
    return Final(
        command_result(
            state.command,
            ResultStatus.FAILED,
            state.attempt,
            state.submitted_at,
            now,
            tx_id=e.tx_id or None,
            validation=e.validation_code if isinstance(e, CommitError) else None,
            code=outcome.error_code,
            error=chaincode_message(e) or str(e),
            log=state.log,
        ),
        outcome.dead_letter,
    )


def unusable(rec: Record, code: str, reason: str, attempts: int, status: ResultStatus = ResultStatus.FAILED) -> Final:
    """The dead-lettered result of a record that could not be used (unreadable, invalid, or an
    internal error): with the ids that can be read from it, and the reason (cut to 2,000
    characters: a payload with thousands of bad fields names each). Never raises."""
    ids = best_effort_ids(rec.value)
    reason = reason if len(reason) <= 2000 else reason[:1997] + "..."
    return Final(
        CommandResult(
            commandId=ids.get("id", ""),
            requestId=ids.get("requestId", ""),
            tenantId=ids.get("tenantId", ""),
            key=rec.key_text(),
            status=status,
            errorCode=code,
            error=reason,
            attempts=attempts,
            sourcePartition=rec.partition,
            sourceOffset=rec.offset,
        ),
        dead_letter=True,
    )


def best_effort_ids(value: bytes) -> dict[str, str]:
    """``id``, ``requestId`` and ``tenantId`` of a JSON object, those present as text or number."""
    try:
        doc = json.loads(value)
    except (ValueError, RecursionError):  # not JSON (or not UTF-8), or nested past the parser's depth
        return {}
    if not isinstance(doc, dict):
        return {}
    return {k: str(doc[k]) for k in ("id", "requestId", "tenantId") if isinstance(doc.get(k), (str, int))}
