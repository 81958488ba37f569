"""One command, from its record to its final result: named steps over one AttemptState.

    settle -> process -> admit, then attempt, attempt, ... each attempt:
      begin -> the gate -> Ledger.find -> succeeded | failed -> (retry after a backoff) | fail

What a failure means comes from fabric_gateway.classify and streams.outcome. A business rule's
rejection is no failure: the chaincode records it in a transaction that commits, and the attempt
that finds it ends the command FAILED (CHAINCODE_REJECTED) with what that transaction recorded.
Only a requestId recorded for another command (IDEMPOTENCY_CONFLICT) and a transaction committed
invalid are final failures; anything else, an error the chaincode throws included (recorded
nowhere: CHAINCODE_REFUSED once the attempts run out), is retried with backoff and jitter up to
the policy's limits, then FAILED and dead-lettered. Attempts made while the breaker is open, or
that open it, are not charged, so an outage makes commands wait, never fail. Before such a failure
is reported, the transactions sent are asked once more: one that did commit wins, with what it
recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from fabric_gateway import CommitError, GatewayError, Verdict, verdict
from fabric_gateway.classify import chaincode_message
from gxcommon import logs
from schemas.envelopes import ResultStatus
from schemas.errors import PayloadError
from streams.outcome import ErrorCode, Kind, Outcome, RetryPolicy, after_failure
from streams.submitter import results
from streams.submitter.command import Command, parse, rejection_code, unreadable
from streams.submitter.gate import BreakerGate
from streams.submitter.hooks import Hooks
from streams.submitter.ledger import Ledger
from streams.submitter.permissions import direct_refusal, refusal
from streams.submitter.record import Final, Record
from streams.submitter.state import AttemptState, Found

log = logs.get("gx.submitter")


@dataclass
class CommandProcessor:
    ledger: Ledger
    gate: BreakerGate
    hooks: Hooks
    policy: RetryPolicy
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]
    rand: Callable[[], float]
    internal_errors: int = 0  # unexpected errors inside attempts, since start (each retried)
    service_check: bool = False  # refuse a command whose service may not send its type (permissions.py)
    direct: bool = False  # records of the direct path: no administrative type
    # Attempts in flight across every partition of both commands topics (None: no bound but the
    # windows'): the peer refuses gateway calls past its concurrency limit instead of queueing them.
    slots: asyncio.Semaphore | None = None

    async def settle(self, rec: Record) -> Final:
        """``rec``'s final result. An unexpected error (a bug) is retried with backoff, and after
        ``max_attempts`` of them the command is FAILED as INTERNAL_ERROR (dead-lettered).
        Raises CancelledError: the command is not finished, the next owner replays it."""
        errors = 0
        while True:
            try:
                return await self.process(rec)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                errors += 1
                self.internal_errors += 1
                log.error(
                    "internal error, command retried",
                    partition=rec.partition,
                    offset=rec.offset,
                    attempt=errors,
                    error=f"{type(e).__name__}: {e}",
                    exc_info=e,
                )
                if errors >= self.policy.max_attempts:
                    reason = f"internal error: {type(e).__name__}: {e}"[:500]
                    return results.unusable(rec, ErrorCode.INTERNAL_ERROR, reason, errors)
                await self.sleep(self.policy.delay(errors, self.rand()))

    async def process(self, rec: Record) -> Final:
        """``rec``'s final result: attempts until one says how it ends."""
        command = self.admit(rec)
        if isinstance(command, Final):
            return command
        state = AttemptState(command)
        while (final := await self.attempt(state)) is None:
            pass
        return final

    def admit(self, rec: Record) -> Command | Final:
        """The command in ``rec``, or its REJECTED result (dead-lettered, no attempt) if the record
        cannot be read as one (streams.submitter.command.unreadable) or is invalid."""
        problem = unreadable(rec)
        if problem is None:
            try:
                command = parse(rec, datetime.now(UTC))
            except PayloadError as e:
                problem = rejection_code(e), str(e)
        if problem is not None:
            code, reason = problem
            log.warning("command rejected", partition=rec.partition, offset=rec.offset, errorCode=code, reason=reason)
            return results.unusable(rec, code, reason, 0, ResultStatus.REJECTED)
        if self.direct and (why := direct_refusal(command.function, command.env.commandType)) is not None:
            code = ErrorCode.SERVICE_NOT_ALLOWED
            log.warning("command rejected", errorCode=code, reason=why, service=command.env.service, **command.ctx)
            return results.unusable(rec, code, why, 0, ResultStatus.REJECTED)
        if self.service_check and (why := refusal(command.env)) is not None:
            code = ErrorCode.SERVICE_NOT_ALLOWED
            log.warning("command rejected", errorCode=code, reason=why, service=command.env.service, **command.ctx)
            return results.unusable(rec, code, why, 0, ResultStatus.REJECTED)
        log.debug("command received", commandType=command.env.commandType, **command.ctx)  # INFO: the final line only
        return command

    async def attempt(self, state: AttemptState) -> Final | None:
        """One attempt, once the gate admits it: the final result, or None to attempt again (the
        backoff already waited). An error outside Fabric's (a bug) is raised."""
        state.begin()
        failure: GatewayError | None = None
        async with self.slots or contextlib.nullcontext():  # the peer's gateway concurrency, shared
            await self.gate.acquire()
            started = self.clock()
            try:
                found = await self.ledger.find(state)
            except GatewayError as e:
                failure = e
            except BaseException:
                self.gate.release()  # cancelled, or failed outside Fabric: no answer to record
                raise
        if failure is not None:
            return await self.failed(state, failure)  # its backoff waits outside the slot
        return await self.succeeded(state, found, started)

    async def succeeded(self, state: AttemptState, found: Found, started: float) -> Final:
        """The attempt found the command's transaction committed VALID: the final result."""
        await self.gate.success()
        self.hooks.committed(self.clock() - started)
        self.note(state, None, "COMMITTED", found.status.tx_id)
        return results.committed(state, found, datetime.now(UTC))

    async def failed(self, state: AttemptState, err: GatewayError) -> Final | None:
        """The attempt failed with ``err``: the breaker and the charge told, the attempt logged;
        None after the backoff if it is retried, else the final result (:meth:`fail`)."""
        v = verdict(err)
        state.last_error = err
        self.hooks.attempt_failed(err, v.outage)
        if v.outage and not err.failed_over:
            await self.gate.failure()
        elif v.outage:
            self.gate.release()  # one gateway peer's failure: the client moved on, Fabric is not down
        else:
            await self.gate.success()  # Fabric answered
        state.charge(v, breaker_open=self.gate.open)
        self.note(state, err, results.outcome_of(v))
        out = after_failure(
            v,
            state.charged,
            self.policy,
            self.rand(),
            err.validation_code if isinstance(err, CommitError) else None,
            chaincode_message(err),
            state.conflicts,
        )
        if out.kind is Kind.RETRY:
            await self.sleep(out.delay)
            return None
        return await self.fail(state, v, out)

    async def fail(self, state: AttemptState, v: Verdict, out: Outcome) -> Final:
        """The final result of a command that ends in a failure: CONFIRMED after all if a
        transaction it sent earlier committed (unless the chaincode rejected it), else FAILED."""
        if v is not Verdict.REJECTED and state.sent:
            late = await self.ledger.committed_among(state, quiet=True)
            if late is not None:
                self.note(state, None, "COMMITTED", late.status.tx_id)
                return results.committed(state, late, datetime.now(UTC))
        return results.failed(state, v, out, datetime.now(UTC))

    def note(self, state: AttemptState, err: GatewayError | None, outcome: str, tx_id: str | None = None) -> None:
        """Add the attempt's entry to the command's attempt log; a failure is logged too."""
        state.log.append(results.attempt_entry(state.attempt, err, outcome, datetime.now(UTC), tx_id))
        if err is not None:
            log.warning(
                "attempt failed",
                attempt=state.attempt,
                txId=err.tx_id,
                errorClass=type(err).__name__,
                code=results.error_code(err),
                outcome=outcome,
                error=str(err)[:300],
                **state.command.ctx,
            )
