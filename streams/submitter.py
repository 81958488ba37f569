"""The submitter's core for one partition: window, retries, breaker, results. No Kafka here.

The Faust agent (streams/submitter_agent.py) feeds records in offset order through
:meth:`PartitionSubmitter.offer`, which never blocks: when the window is full the record waits in
this partition's backlog and ``offer`` answers False (one busy key or partition never holds the
others back); ``on_room`` says when backlog records were admitted. Ports:

- ``gateway``: a fabric_gateway.Gateway (or anything with endorse/submit/commit_status);
- ``sink``: publishes results and dead letters (Kafka in production); a final result or dead
  letter is published before its record is acked.

Per command: validate the envelope and payload (invalid: REJECTED + dead letter, no attempt);
map it to its chaincode call; then endorse -> submit (a SUBMITTED progress result) -> commit
status. A chaincode rejection FAILS at once (not dead-lettered: the command was valid, the ledger
said no). Transient errors retry with backoff and jitter up to the policy's limit, then FAIL and
are dead-lettered; attempts made while the breaker is open, or that open it, are not charged, so
an outage makes commands wait and never FAIL.

After a successful submit the transaction's fate is asked again (CommitStatus on the same
transaction id) when the status could not be read, instead of endorsing a new transaction: a
command that did commit is never reported FAILED. A new transaction uses the same requestId, so the
chaincode applies the command at most once; when it answers with an earlier transaction's result
(the requestId was already applied, e.g. before a crash), the result names that transaction and
its block.

A record is acked (``on_done``) only when its final result is published. If anything unexpected
happens (a bug, the results topic unreachable for good), the record is never acked: its offset
is never committed past, the next owner of the partition replays it, and ``internal_errors``
counts it for /readyz.
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

from fabric_gateway import GatewayError, classify
from fabric_gateway.classify import Disposition, chaincode_message, is_chaincode_rejection
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


class Sink(Protocol):
    async def result(self, key: bytes, result: CommandResult) -> None: ...
    async def dead_letter(self, record: Record, reason: str, error_code: str, attempts: int) -> None: ...


class BreakerGate:
    """The breaker shared by every partition, with waiting instead of polling.

    ``sleep`` is injectable (tests move a fake clock); while half-open with its probe slots taken,
    waiters sleep on a condition that every recorded outcome notifies.
    """

    def __init__(self, breaker: CircuitBreaker, clock: Callable[[], float],
                 sleep: Callable[[float], Awaitable[None]]) -> None:
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
    # Called once per record when its final result is published (its offset may be committed).
    on_done: Callable[[Record], None] = lambda rec: None
    # Called when records of the backlog have been admitted to the window (the agent may take more).
    on_room: Callable[[], None] = lambda: None
    # Called on every failed attempt with the error and whether the breaker counted it (metrics).
    on_attempt_failed: Callable[[Exception, bool], None] = lambda err, counted: None
    # Called after each committed transaction with the seconds from endorse to commit status (metrics).
    on_committed: Callable[[float], None] = lambda seconds: None

    def __post_init__(self) -> None:
        self._gate = self.gate or BreakerGate(self.breaker, self.clock, self.sleep)
        self.breaker = self._gate.breaker
        self._records: dict[int, Record] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._backlog: deque[Record] = deque()
        self._idle = asyncio.Event()
        self._idle.set()
        self.internal_errors = 0

    def committable(self) -> int | None:
        return self.window.committable()

    @property
    def backlog(self) -> int:
        """Records taken but not yet admitted to the window."""
        return len(self._backlog)

    def offer(self, rec: Record) -> bool:
        """Admit ``rec`` and start whatever is ready. False: the window is full and ``rec`` waits in
        the backlog (``on_room`` is called as backlog records are admitted)."""
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
        """Cancel every command in flight (revocation, shutdown); none of them is acked."""
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._backlog.clear()

    def _start_ready(self) -> None:
        for off in self.window.ready():
            self.window.start(off)
            t = asyncio.create_task(self._run(self._records[off]))
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    def _finish(self, rec: Record) -> None:
        self.window.finish(rec.offset)
        del self._records[rec.offset]
        admitted = 0
        while self._backlog and not self.window.full:
            self._admit(self._backlog.popleft())
            admitted += 1
        self._start_ready()
        if admitted:
            self.on_room()
        if len(self.window) == 0 and not self._backlog:
            self._idle.set()

    async def _run(self, rec: Record) -> None:
        try:
            await self._process(rec)
        except asyncio.CancelledError:
            raise  # revoked or shutting down: not acked, the next owner replays it
        except Exception as e:
            # Not acked and not finished: the committed offset never passes it (see module doc).
            self.internal_errors += 1
            log.error("internal error, command left unacknowledged", partition=rec.partition, offset=rec.offset,
                      error=f"{type(e).__name__}: {e}", exc_info=e)
            return
        self._finish(rec)
        self.on_done(rec)

    async def _process(self, rec: Record) -> None:
        received = datetime.now(UTC)
        try:
            env = parse_command(rec.value)
            contract, function, args = to_invocation(env.commandType, env.requestId, env.payload)
        except PayloadError as e:
            code = ErrorCode.UNKNOWN_COMMAND_TYPE if isinstance(e, UnknownCommandType) else (
                ErrorCode.INVALID_ENVELOPE if e.what == "command envelope" else ErrorCode.INVALID_PAYLOAD)
            await self._reject(rec, code, str(e))
            return
        key = rec.key or env.key.encode()
        ctx = {"requestId": env.requestId, "commandId": env.id, "partition": rec.partition, "offset": rec.offset}
        log.info("command received", commandType=env.commandType, **ctx)
        trace = _Trace(self, rec, env, key, received, ctx)
        attempt = charged = 0
        tx = None           # a submitted transaction whose fate is not known yet
        status_misses = 0   # consecutive CommitStatus failures for ``tx``
        submitted_at = None
        while True:
            attempt += 1
            charged += 1
            await self._gate.acquire()
            answered = False
            started = self.clock()
            try:
                if tx is None:
                    tx = await self.gateway.endorse(self.channel, self.chaincode, f"{contract}:{function}", args)
                    await self.gateway.submit(tx)
                    submitted_at = datetime.now(UTC)
                    await trace.progress(tx.tx_id, attempt, submitted_at)
                status = await self.gateway.commit_status(tx)
                answered = True
                if not status.successful:
                    failed_tx, tx = tx, None
                    raise CommitError(failed_tx.tx_id, status.code, status.block)
            except GatewayError as e:
                answered = True
                rejection = is_chaincode_rejection(e)
                retryable = classify(e) is Disposition.RETRYABLE
                # The breaker counts only Fabric being unreachable or slow; a conflict (MVCC) is Fabric
                # answering under contention: retried, but no sign of an outage.
                counted = retryable and not rejection and not isinstance(e, CommitError)
                self.on_attempt_failed(e, counted)
                if counted:
                    await self._gate.failure()
                    if self.breaker.state is State.OPEN:
                        # Fabric is considered down: this failure says nothing about the command.
                        charged -= 1
                else:
                    await self._gate.success()  # Fabric answered
                status_misses = status_misses + 1 if isinstance(e, CommitStatusError) else 0
                if not isinstance(e, CommitStatusError) or status_misses >= 2:
                    # A new transaction next time. After a second status miss this is safe too: if
                    # the first did commit, the chaincode answers with its result (same requestId).
                    tx, status_misses = None, 0
                trace.attempt(attempt, e, "CHAINCODE_REJECTED" if rejection else
                              "RETRYABLE" if retryable else "PERMANENT")
                out = after_failure(retryable, rejection, charged, self.policy, self.rand(),
                                    e.validation_code if isinstance(e, CommitError) else None)
                if out.kind is Kind.RETRY:
                    await self.sleep(out.delay)
                    continue
                await trace.final(ResultStatus.FAILED, attempt, submitted_at, dead_letter=out.dead_letter,
                                  errorCode=out.error_code, error=(chaincode_message(e) if rejection else None) or str(e),
                                  fabricTxId=e.tx_id or None,
                                  validationCode=e.validation_code if isinstance(e, CommitError) else None)
                return
            finally:
                if not answered:
                    self._gate.release()  # cancelled, or failed outside Fabric
            await self._gate.success()
            self.on_committed(self.clock() - started)
            tx_id, block = await self._applied_by(tx, status)
            trace.attempt(attempt, None, "COMMITTED", tx_id=tx.tx_id)
            await trace.final(ResultStatus.CONFIRMED, attempt, submitted_at, fabricTxId=tx_id, commitBlock=block,
                              validationCode=status.code)
            return

    async def _applied_by(self, tx: Any, status: Any) -> tuple[str, int]:
        """The transaction that applied the command: this one, or the earlier one the chaincode names
        when the requestId had been applied already (its result carries that ``txId``)."""
        try:
            first = json.loads(tx.result).get("txId")
        except (ValueError, AttributeError, TypeError):
            first = None
        if not first or first == tx.tx_id:
            return tx.tx_id, status.block
        try:
            earlier = await self.gateway.commit_status(first, self.channel)
        except GatewayError:
            return tx.tx_id, status.block
        return first, earlier.block

    async def _reject(self, rec: Record, code: str, reason: str) -> None:
        """An invalid record: a REJECTED result (with whatever ids can be read) and a dead letter."""
        ids = _best_effort_ids(rec.value)
        log.warning("command rejected", requestId=ids.get("requestId"), partition=rec.partition, offset=rec.offset,
                    errorCode=code, reason=reason)
        await self.sink.dead_letter(rec, reason, code, 0)
        result = CommandResult(commandId=ids.get("id", ""), requestId=ids.get("requestId", ""),
                               tenantId=ids.get("tenantId", ""), key=(rec.key or b"").decode(),
                               status=ResultStatus.REJECTED, errorCode=code, error=reason, attempts=0,
                               sourcePartition=rec.partition, sourceOffset=rec.offset)
        await self.sink.result(rec.key or b"", result)


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
        self.attempts.append(Attempt(attempt=n, txId=tx_id or (err.tx_id if err else None) or None, outcome=outcome,
                                     errorClass=type(err).__name__ if err else None, code=code,
                                     message=((chaincode_message(err) or str(err))[:500] if err else None),
                                     at=datetime.now(UTC)))
        if err is not None:
            log.warning("attempt failed", attempt=n, txId=err.tx_id, errorClass=type(err).__name__, code=code,
                        outcome=outcome, error=str(err)[:300], **self.ctx)

    def result(self, status: ResultStatus, attempts: int, submitted: datetime | None, **kw: Any) -> CommandResult:
        now = datetime.now(UTC)
        return CommandResult(commandId=self.env.id, requestId=self.env.requestId, tenantId=self.env.tenantId,
                             key=self.env.key, status=status, attempts=attempts,
                             sourcePartition=self.rec.partition, sourceOffset=self.rec.offset,
                             timings=Timings(receivedAt=self.received, submittedAt=submitted,
                                             committedAt=now if status is ResultStatus.CONFIRMED else None,
                                             durationMs=(now - self.received).total_seconds() * 1000), **kw)

    async def progress(self, tx_id: str, attempt: int, submitted: datetime) -> None:
        """The SUBMITTED result: progress only, so a failure to publish it is logged, not fatal."""
        log.info("submitted", txId=tx_id, attempt=attempt, **self.ctx)
        try:
            await self.sub.sink.result(self.key, self.result(ResultStatus.SUBMITTED, attempt, submitted,
                                                             fabricTxId=tx_id))
        except Exception as e:
            log.warning("SUBMITTED result not published", error=f"{type(e).__name__}: {e}", **self.ctx)

    async def final(self, status: ResultStatus, attempts: int, submitted: datetime | None,
                    dead_letter: bool = False, **kw: Any) -> None:
        result = self.result(status, attempts, submitted, attemptLog=self.attempts, **kw)
        if dead_letter:
            await self.sub.sink.dead_letter(self.rec, result.error or "", result.errorCode or "", attempts)
        await self.sub.sink.result(self.key, result)
        log.info("final", status=status.value, txId=result.fabricTxId, block=result.commitBlock,
                 errorCode=result.errorCode, attempts=attempts, **self.ctx)


def _best_effort_ids(value: bytes) -> dict[str, str]:
    try:
        doc = json.loads(value)
    except ValueError:
        return {}
    if not isinstance(doc, dict):
        return {}
    return {k: str(doc[k]) for k in ("id", "requestId", "tenantId") if isinstance(doc.get(k), (str, int))}
