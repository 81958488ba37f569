"""The submitter's core for one partition: window, retries, breaker, results. No Kafka here.

The Faust agent (streams/submitter_agent.py) feeds records in offset order through
:meth:`PartitionSubmitter.offer`, which never blocks: when the window's uncommitted span is full
the record waits in this partition's backlog and ``offer`` answers False; ``on_room`` says when
backlog records were admitted. Ports:

- ``gateway``: a fabric_gateway.Gateway (or anything with endorse/submit/commit_status);
- ``sink``: publishes results and dead letters (Kafka in production).

Per command: validate the envelope and payload (invalid: REJECTED + dead letter, no attempt);
map it to its chaincode call; then endorse -> submit (a SUBMITTED progress result only with
``progress``) -> commit status (read from one block stream, ``commits``, or asked per
transaction). One INFO log line per command: its final result. What a failure
means comes from fabric_gateway.classify: only a chaincode rejection and a transaction committed
invalid are final; everything else is retried with backoff and jitter up
to the policy's limit, then FAILED and dead-lettered. Attempts made while the breaker is open,
or that open it, are not charged, so an outage makes commands wait and never FAIL.

A committed command is never reported FAILED. Every transaction sent for a command is
remembered; after a send or a status read that failed (a timeout, a lost connection: the
transaction may have committed anyway), the next attempt first asks the commit status of those
transactions, newest first, and only endorses a new one if none committed. Before the command is
reported FAILED for any reason but a rejection, they are asked once more. A new transaction uses
the same requestId, so the chaincode applies the command at most once: when it answers with an
earlier transaction's result (the requestId was applied, or rejected, by a transaction of a
previous attempt or of a process that crashed), nothing is sent again and the result names that
transaction and its block. A rejection the chaincode recorded comes back the same on every replay.

A record finishes only when its final result (and dead letter) is published: publishing is
retried with backoff for as long as it fails, holding the command's slot (its offset is never
committed past). If it keeps failing for ``publish_deadline`` seconds the process cannot go on:
``on_fatal`` is called (the worker exits and is restarted). An unexpected error inside an
attempt (a bug) is retried like a transient one, and after ``max_attempts`` the command is
FAILED as INTERNAL_ERROR and dead-lettered: nothing is left unacknowledged for ever.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from fabric_gateway import GatewayError
from fabric_gateway.classify import Verdict, chaincode_message, verdict
from fabric_gateway.errors import CommitError, CommitStatusError
from gxcommon import logs
from schemas.envelopes import Attempt, CommandEnvelope, CommandResult, ResultStatus, Timings, parse_command
from schemas.errors import PayloadError, UnknownCommandType
from schemas.routing import to_invocation
from streams.breaker import CircuitBreaker, State
from streams.outcome import ErrorCode, Kind, RetryPolicy, after_failure
from streams.window import SubmitWindow

log = logs.get("gx.submitter")


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Final:
    """A command's final result, and whether its record goes to the dead-letter topic too."""

    result: CommandResult
    dead_letter: bool = False


class Sink(Protocol):
    async def result(self, key: bytes, result: CommandResult) -> None: ...
    async def dead_letter(self, record: Record, reason: str, error_code: str, attempts: int) -> None: ...


@dataclass(frozen=True)
class Answer:
    """What the chaincode's response says: the transaction that applied (or recorded the rejection
    of) the requestId, and the rejection if the chaincode recorded one. Pure reading of its JSON."""

    applied_by: str
    rejection: str | None = None

    @staticmethod
    def read(result: bytes, tx_id: str) -> Answer:
        try:
            doc = json.loads(result)
        except (ValueError, TypeError):
            return Answer(tx_id)
        if not isinstance(doc, dict):
            return Answer(tx_id)
        rejected = doc.get("rejected")
        message = None
        if isinstance(rejected, dict):
            message = f"{rejected.get('code') or 'REJECTED'}: {rejected.get('message') or ''}".rstrip(": ")
        first = doc.get("txId")
        return Answer(first if isinstance(first, str) and first else tx_id, message)


class BreakerGate:
    """The breaker shared by every partition, with waiting instead of polling.

    ``sleep`` is injectable (tests move a fake clock); while half-open with its probe slots taken,
    waiters sleep on a condition that every recorded outcome notifies.
    """

    def __init__(
        self, breaker: CircuitBreaker, clock: Callable[[], float], sleep: Callable[[float], Awaitable[None]]
    ) -> None:
        self.breaker, self.clock, self.sleep = breaker, clock, sleep
        self._changed = asyncio.Condition()

    async def acquire(self) -> None:
        while not self.breaker.allow(self.clock()):
            if self.breaker.state is State.OPEN:
                await self.sleep(min(1.0, max(0.05, self.breaker.seconds_until_probe(self.clock()))))
            else:
                async with self._changed:
                    try:
                        await asyncio.wait_for(self._changed.wait(), 1.0)
                    except TimeoutError:
                        pass

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def success(self) -> None:
        self.breaker.record_success(self.clock())
        await self._notify()

    async def failure(self) -> None:
        self.breaker.record_failure(self.clock())
        await self._notify()

    def release(self) -> None:
        self.breaker.release()


@dataclass
class PartitionSubmitter:
    gateway: Any
    sink: Sink
    channel: str
    chaincode: str
    window: SubmitWindow
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], float] = time.monotonic
    rand: Callable[[], float] = random.random
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    gate: BreakerGate | None = None  # shared by the agent's partitions; made from ``breaker`` if None
    # Called once per record when its final result is published.
    on_done: Callable[[Record], None] = lambda rec: None
    # Called with the new committable offset whenever the finished prefix grows (the agent acks
    # records strictly in offset order up to it, so Kafka's commit is exactly this offset).
    on_committable: Callable[[int], None] = lambda offset: None
    # Called when records of the backlog have been admitted to the window (the agent may take more).
    on_room: Callable[[], None] = lambda: None
    # Called on every failed attempt with the error and whether the breaker counted it (metrics).
    on_attempt_failed: Callable[[Exception, bool], None] = lambda err, counted: None
    # Called after each transaction sent to the orderer (metrics).
    on_submitted: Callable[[], None] = lambda: None
    # Called after each committed transaction with the seconds from endorse to commit status (metrics).
    on_committed: Callable[[float], None] = lambda seconds: None
    # Called when a final result could not be published for ``publish_deadline`` seconds.
    on_fatal: Callable[[BaseException], None] = lambda err: None
    publish_deadline: float = 300.0
    # Publish a SUBMITTED progress result after each send (off by default: one produce, one consume
    # and one outbox update per command that nothing needs; the final result carries submittedAt).
    progress: bool = False
    # How long a re-check waits for a transaction sent earlier to show up committed.
    recheck_timeout: float = 5.0
    # Commit statuses of the transactions sent: from one block stream (a
    # fabric_gateway.commits.CommitWatcher, shared by the partitions) or, when None, one signed
    # CommitStatus call per transaction. Re-checks of earlier transactions always call.
    commits: Any = None
    commit_timeout: float = 60.0

    def __post_init__(self) -> None:
        self._gate = self.gate or BreakerGate(self.breaker, self.clock, self.sleep)
        self.breaker = self._gate.breaker
        self._records: dict[int, Record] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._backlog: deque[Record] = deque()
        self._idle = asyncio.Event()
        self._idle.set()
        self.internal_errors = 0  # unexpected errors inside attempts (each retried)
        self.publish_failures = 0  # failed attempts to publish a final result (each retried)
        self._unpublished: dict[int, float] = {}  # offset -> when its final result first failed to publish

    def committable(self) -> int | None:
        return self.window.committable()

    @property
    def backlog(self) -> int:
        """Records taken but not yet admitted to the window."""
        return len(self._backlog)

    def stalled(self) -> float:
        """Seconds since the oldest final result that still cannot be published first failed (0: none)."""
        return self.clock() - min(self._unpublished.values()) if self._unpublished else 0.0

    def offer(self, rec: Record) -> bool:
        """Admit ``rec`` and start whatever is ready. False: the window's span is full and ``rec``
        waits in the backlog (``on_room`` is called as backlog records are admitted)."""
        self._idle.clear()
        if self._backlog or self.window.full:
            self._backlog.append(rec)
            return False
        self._admit(rec)
        self._start_ready()
        return True

    def _admit(self, rec: Record) -> None:
        self.window.add(rec.offset, (rec.key or b"").decode() or f"offset-{rec.offset}")
        self._records[rec.offset] = rec

    async def drain(self) -> None:
        """Wait until every admitted command has finished (tests, shutdown)."""
        await self._idle.wait()

    async def close(self) -> None:
        """Cancel every command in flight (revocation, shutdown); none of them finishes."""
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._backlog.clear()

    def _start_ready(self) -> None:
        for off in self.window.start_ready():
            t = asyncio.create_task(self._run(self._records[off]))
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    def _finish(self, rec: Record) -> None:
        moved = self.window.finish(rec.offset)
        del self._records[rec.offset]
        admitted = 0
        while self._backlog and not self.window.full:
            self._admit(self._backlog.popleft())
            admitted += 1
        self._start_ready()
        if moved is not None:
            self.on_committable(moved)
        if admitted:
            self.on_room()
        if len(self.window) == 0 and not self._backlog:
            self._idle.set()

    async def _run(self, rec: Record) -> None:
        final = await self._settle(rec)
        await self._publish(rec, final)
        self._finish(rec)
        self.on_done(rec)

    async def _settle(self, rec: Record) -> Final:
        """The command's final result; an unexpected error is retried with backoff, and FAILED as
        INTERNAL_ERROR (dead-lettered) after ``max_attempts`` of them."""
        errors = 0
        while True:
            try:
                return await self._process(rec)
            except asyncio.CancelledError:
                raise  # revoked or shutting down: not finished, the next owner replays it
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
                    return self._failed_without_envelope(
                        rec, ErrorCode.INTERNAL_ERROR, f"internal error: {type(e).__name__}: {e}"[:500], errors
                    )
                await self.sleep(self.policy.delay(errors, self.rand()))

    async def _publish(self, rec: Record, final: Final) -> None:
        """Publish the dead letter (if any) and the final result, retrying until both are out."""
        failures, dead_letter = 0, final.dead_letter
        r = final.result
        while True:
            try:
                if dead_letter:
                    await self.sink.dead_letter(rec, r.error or "", r.errorCode or "", r.attempts)
                    dead_letter = False
                await self.sink.result(rec.key or r.key.encode(), r)
                break
            except asyncio.CancelledError:
                raise
            except Exception as e:
                failures += 1
                self.publish_failures += 1
                first = self._unpublished.setdefault(rec.offset, self.clock())
                log.warning(
                    "final result not published, retrying",
                    requestId=r.requestId,
                    partition=rec.partition,
                    offset=rec.offset,
                    failures=failures,
                    error=f"{type(e).__name__}: {e}"[:300],
                )
                if self.clock() - first >= self.publish_deadline:
                    log.critical(
                        "final results cannot be published; the worker cannot go on",
                        seconds=round(self.clock() - first),
                        error=f"{type(e).__name__}: {e}"[:300],
                    )
                    self.on_fatal(e)
                await self.sleep(min(self.policy.max_delay * 3, 0.25 * 2 ** min(failures, 7)) * (0.5 + self.rand() / 2))
        if self._unpublished.pop(rec.offset, None) is not None:
            log.info("final result published after failures", requestId=r.requestId, failures=failures)
        log.info(
            "final",
            status=r.status.value,
            txId=r.fabricTxId,
            block=r.commitBlock,
            errorCode=r.errorCode,
            attempts=r.attempts,
            requestId=r.requestId,
            partition=rec.partition,
            offset=rec.offset,
        )

    async def _process(self, rec: Record) -> Final:
        received = datetime.now(UTC)
        try:
            env = parse_command(rec.value)
            contract, function, args = to_invocation(env.commandType, env.requestId, env.payload, env.tenantId)
        except PayloadError as e:
            code = (
                ErrorCode.UNKNOWN_COMMAND_TYPE
                if isinstance(e, UnknownCommandType)
                else (ErrorCode.INVALID_ENVELOPE if e.what == "command envelope" else ErrorCode.INVALID_PAYLOAD)
            )
            log.warning("command rejected", partition=rec.partition, offset=rec.offset, errorCode=code, reason=str(e))
            return self._failed_without_envelope(rec, code, str(e), 0, ResultStatus.REJECTED)
        key = rec.key or env.key.encode()
        ctx = {"requestId": env.requestId, "commandId": env.id, "partition": rec.partition, "offset": rec.offset}
        log.debug("command received", commandType=env.commandType, **ctx)  # INFO: the final line only
        trace = _Trace(self, rec, env, key, received, ctx)
        attempt = charged = conflicts = 0
        sent: list[str] = []  # transactions of this command sent to the orderer, fates not known invalid
        unsure = False  # a send or a status read failed: one of ``sent`` may have committed
        submitted_at = None
        while True:
            attempt += 1
            charged += 1
            await self._gate.acquire()
            answered = False
            started = self.clock()
            try:
                status = answer = None
                if unsure:
                    status = await self._committed_among(sent)
                    unsure = False
                    if status is not None:
                        answer = Answer(status.tx_id)
                if status is None:
                    tx = await self.gateway.endorse(self.channel, self.chaincode, f"{contract}:{function}", args)
                    answer = Answer.read(tx.result, tx.tx_id)
                    if answer.applied_by != tx.tx_id:
                        # Applied (or its rejection recorded) by an earlier transaction: committed
                        # already (endorsement reads committed state), so nothing is sent again.
                        status = await self.gateway.commit_status(
                            answer.applied_by, self.channel, timeout=self.recheck_timeout
                        )
                    else:
                        sent.append(tx.tx_id)
                        unsure = True
                        # Expected before it is sent, so its block cannot pass unseen.
                        waiter = self.commits.expect(tx.tx_id) if self.commits is not None else None
                        try:
                            await self.gateway.submit(tx)
                            self.on_submitted()
                            submitted_at = datetime.now(UTC)
                            await trace.progress(tx.tx_id, attempt, submitted_at)
                            status = await (
                                waiter.wait(self.commit_timeout)
                                if waiter is not None
                                else self.gateway.commit_status(tx)
                            )
                        finally:
                            if waiter is not None:
                                waiter.close()
                        unsure = False
                answered = True
                if not status.successful:
                    if status.tx_id in sent:
                        sent.remove(status.tx_id)
                    raise CommitError(status.tx_id, status.code, status.block)
            except GatewayError as e:
                answered = True
                v = verdict(e)
                self.on_attempt_failed(e, v.outage)
                if v.outage:
                    await self._gate.failure()
                    if self.breaker.state is State.OPEN:
                        charged -= 1  # Fabric is considered down: this failure says nothing about the command
                else:
                    await self._gate.success()  # Fabric answered
                if v is Verdict.CONFLICT:
                    conflicts += 1
                    charged -= 1  # another transaction won the block: counted apart (streams.outcome)
                trace.attempt(
                    attempt,
                    e,
                    "CHAINCODE_REJECTED" if v is Verdict.REJECTED else "PERMANENT" if v.final else "RETRYABLE",
                )
                out = after_failure(
                    v,
                    charged,
                    self.policy,
                    self.rand(),
                    e.validation_code if isinstance(e, CommitError) else None,
                    chaincode_message(e),
                    conflicts,
                )
                if out.kind is Kind.RETRY:
                    await self.sleep(out.delay)
                    continue
                if v is not Verdict.REJECTED and sent:
                    # About to report a failure: a transaction sent earlier that did commit wins.
                    late = await self._committed_among(sent, quiet=True)
                    if late is not None:
                        trace.attempt(attempt, None, "COMMITTED", tx_id=late.tx_id)
                        return trace.final(
                            ResultStatus.CONFIRMED,
                            attempt,
                            submitted_at,
                            fabricTxId=late.tx_id,
                            commitBlock=late.block,
                            validationCode=late.code,
                        )
                return trace.final(
                    ResultStatus.FAILED,
                    attempt,
                    submitted_at,
                    dead_letter=out.dead_letter,
                    errorCode=out.error_code,
                    error=(chaincode_message(e) if v is Verdict.REJECTED else None) or str(e),
                    fabricTxId=e.tx_id or None,
                    validationCode=e.validation_code if isinstance(e, CommitError) else None,
                )
            finally:
                if not answered:
                    self._gate.release()  # cancelled, or failed outside Fabric
            await self._gate.success()
            self.on_committed(self.clock() - started)
            trace.attempt(attempt, None, "COMMITTED", tx_id=status.tx_id)
            if answer.rejection is not None:
                # The chaincode recorded a rejection in a committed transaction: the same answer
                # on every replay, never a later success.
                return trace.final(
                    ResultStatus.FAILED,
                    attempt,
                    submitted_at,
                    errorCode=ErrorCode.CHAINCODE_REJECTED,
                    error=answer.rejection,
                    fabricTxId=status.tx_id,
                    commitBlock=status.block,
                    validationCode=status.code,
                )
            return trace.final(
                ResultStatus.CONFIRMED,
                attempt,
                submitted_at,
                fabricTxId=status.tx_id,
                commitBlock=status.block,
                validationCode=status.code,
            )

    async def _committed_among(self, sent: list[str], quiet: bool = False) -> Any:
        """The status of a transaction in ``sent`` that committed VALID (newest first), or None.

        Transactions found invalid are dropped from ``sent``; one still not committed after
        ``recheck_timeout`` counts as not committed (a later one may conflict with it, never
        both apply). CommitStatusError if a status cannot be read at all (Fabric unreachable),
        unless ``quiet``.
        """
        for tx_id in reversed(list(sent)):
            try:
                status = await self.gateway.commit_status(tx_id, self.channel, timeout=self.recheck_timeout)
            except CommitStatusError as e:
                if quiet or (e.code is not None and e.code.name == "DEADLINE_EXCEEDED"):
                    continue
                raise
            if status.successful:
                return status
            sent.remove(tx_id)
        return None

    def _failed_without_envelope(
        self, rec: Record, code: str, reason: str, attempts: int, status: ResultStatus = ResultStatus.FAILED
    ) -> Final:
        """A final result for a record whose envelope could not be used (invalid, or an internal
        error): the ids that can be read, and a dead letter with the reason."""
        ids = _best_effort_ids(rec.value)
        return Final(
            CommandResult(
                commandId=ids.get("id", ""),
                requestId=ids.get("requestId", ""),
                tenantId=ids.get("tenantId", ""),
                key=(rec.key or b"").decode(),
                status=status,
                errorCode=code,
                error=reason,
                attempts=attempts,
                sourcePartition=rec.partition,
                sourceOffset=rec.offset,
            ),
            dead_letter=True,
        )


@dataclass
class _Trace:
    """One command's results and attempt log."""

    sub: PartitionSubmitter
    rec: Record
    env: CommandEnvelope
    key: bytes
    received: datetime
    ctx: dict[str, Any]
    attempts: list[Attempt] = field(default_factory=list)

    def attempt(self, n: int, err: GatewayError | None, outcome: str, tx_id: str | None = None) -> None:
        code = None
        if isinstance(err, CommitError):
            code = err.validation_code
        elif err is not None and err.code is not None:
            code = err.code.name
        self.attempts.append(
            Attempt(
                attempt=n,
                txId=tx_id or (err.tx_id if err else None) or None,
                outcome=outcome,
                errorClass=type(err).__name__ if err else None,
                code=code,
                message=((chaincode_message(err) or str(err))[:500] if err else None),
                at=datetime.now(UTC),
            )
        )
        if err is not None:
            log.warning(
                "attempt failed",
                attempt=n,
                txId=err.tx_id,
                errorClass=type(err).__name__,
                code=code,
                outcome=outcome,
                error=str(err)[:300],
                **self.ctx,
            )

    def result(self, status: ResultStatus, attempts: int, submitted: datetime | None, **kw: Any) -> CommandResult:
        now = datetime.now(UTC)
        return CommandResult(
            commandId=self.env.id,
            requestId=self.env.requestId,
            tenantId=self.env.tenantId,
            key=self.env.key,
            status=status,
            attempts=attempts,
            sourcePartition=self.rec.partition,
            sourceOffset=self.rec.offset,
            timings=Timings(
                receivedAt=self.received,
                submittedAt=submitted,
                committedAt=now if status is ResultStatus.CONFIRMED else None,
                durationMs=(now - self.received).total_seconds() * 1000,
            ),
            **kw,
        )

    async def progress(self, tx_id: str, attempt: int, submitted: datetime) -> None:
        """The SUBMITTED result, if the submitter publishes progress: progress only, so a failure
        to publish it is logged, not fatal."""
        log.debug("submitted", txId=tx_id, attempt=attempt, **self.ctx)
        if not self.sub.progress:
            return
        try:
            await self.sub.sink.result(
                self.key, self.result(ResultStatus.SUBMITTED, attempt, submitted, fabricTxId=tx_id)
            )
        except Exception as e:
            log.warning("SUBMITTED result not published", error=f"{type(e).__name__}: {e}", **self.ctx)

    def final(
        self, status: ResultStatus, attempts: int, submitted: datetime | None, dead_letter: bool = False, **kw: Any
    ) -> Final:
        return Final(self.result(status, attempts, submitted, attemptLog=self.attempts, **kw), dead_letter)


def _best_effort_ids(value: bytes) -> dict[str, str]:
    try:
        doc = json.loads(value)
    except ValueError:
        return {}
    if not isinstance(doc, dict):
        return {}
    return {k: str(doc[k]) for k in ("id", "requestId", "tenantId") if isinstance(doc.get(k), (str, int))}
