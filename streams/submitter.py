"""The submitter's core for one partition: window, retries, breaker, results. No Kafka here.

The Faust agent (to come with the Fabric network) feeds records in offset order through
:meth:`PartitionSubmitter.offer`, commits :meth:`PartitionSubmitter.committable`, and pauses the
partition while :attr:`PartitionSubmitter.paused`. Ports:

- ``gateway``: a fabric_gateway.Gateway (or anything with endorse/submit/commit_status);
- ``sink``: publishes results and dead letters (Kafka in production).

Per command: validate the envelope and payload (invalid: REJECTED + dead letter, no attempt);
(attempts made while the breaker is open, or that open it, are not charged to the command: an
outage makes commands wait, never FAIL;)
map it to its chaincode call; then attempt endorse -> submit (a SUBMITTED result) -> commit
status. A chaincode rejection FAILS at once (not dead-lettered: the command was valid, the ledger
said no) and counts as Fabric answering for the breaker. Transient errors retry with backoff and
jitter up to the policy's limit, then FAIL and are dead-lettered. Each attempt uses a new
transaction id with the same requestId, so the chaincode applies the command at most once.

When a key's command fails for good, later commands of that key are still tried by default
(``park_failed_keys=False``): each is checked by the chaincode against the current state, and
parking would stall a user's wallet until an operator acts. With ``park_failed_keys=True`` they
FAIL with KEY_PARKED and are dead-lettered, for replay after a fix (`gxctl dlq replay`).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from fabric_gateway import GatewayError, classify
from fabric_gateway.classify import Disposition, is_chaincode_rejection
from fabric_gateway.errors import CommitError
from schemas.envelopes import CommandEnvelope, CommandResult, ResultStatus, Timings, parse_command
from schemas.errors import PayloadError, UnknownCommandType
from schemas.routing import to_invocation
from streams.breaker import CircuitBreaker, State
from streams.outcome import ErrorCode, Kind, RetryPolicy, after_failure
from streams.window import SubmitWindow


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


@dataclass
class PartitionSubmitter:
    gateway: Any
    sink: Sink
    channel: str
    chaincode: str
    window: SubmitWindow
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    park_failed_keys: bool = False
    clock: Callable[[], float] = time.monotonic
    rand: Callable[[], float] = random.random
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    # Called once per record when it has finished (its offset may be committed): the agent acks it.
    on_done: Callable[[Record], None] = lambda rec: None
    # Called on every failed attempt with the error and whether the breaker counted it (metrics).
    on_attempt_failed: Callable[[Exception, bool], None] = lambda err, counted: None
    # Called after each successful submit with the seconds from endorse to commit status (metrics).
    on_committed: Callable[[float], None] = lambda seconds: None

    def __post_init__(self) -> None:
        self._records: dict[int, Record] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Condition()
        self.parked: set[bytes] = set()

    @property
    def paused(self) -> bool:
        """True while the breaker is open: the agent should pause this partition."""
        return self.breaker.state is State.OPEN

    def committable(self) -> int | None:
        return self.window.committable()

    async def offer(self, rec: Record) -> None:
        """Admit ``rec`` (waits while the window is full) and start whatever is ready."""
        async with self._changed:
            await self._changed.wait_for(lambda: not self.window.full)
            self.window.add(rec.offset, (rec.key or b"").decode() or f"offset-{rec.offset}")
            self._records[rec.offset] = rec
            self._start_ready()

    async def drain(self) -> None:
        """Wait until every admitted command has finished."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.window) == 0)

    def _start_ready(self) -> None:
        for off in self.window.ready():
            self.window.start(off)
            t = asyncio.create_task(self._run(self._records[off]))
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    async def _finish(self, rec: Record) -> None:
        async with self._changed:
            self.window.finish(rec.offset)
            del self._records[rec.offset]
            self._start_ready()
            self._changed.notify_all()

    async def _run(self, rec: Record) -> None:
        try:
            await self._process(rec)
        finally:
            await self._finish(rec)
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
        if self.park_failed_keys and key in self.parked:
            await self._final(rec, env, key, ResultStatus.FAILED, 0, received, errorCode=ErrorCode.KEY_PARKED,
                              error=f"key {key.decode()} is parked after an earlier failure", dead_letter=True)
            return
        attempt = charged = 0
        while True:
            attempt += 1
            charged += 1
            await self._wait_for_breaker()
            submitted_at = None
            started = self.clock()
            try:
                tx = await self.gateway.endorse(self.channel, self.chaincode, f"{contract}:{function}", args)
                await self.gateway.submit(tx)
                submitted_at = datetime.now(UTC)
                await self.sink.result(key, self._result(env, ResultStatus.SUBMITTED, attempt, received,
                                                         submitted_at, fabricTxId=tx.tx_id))
                status = await self.gateway.commit_status(tx)
                status.raise_for_status()
            except GatewayError as e:
                rejection = is_chaincode_rejection(e)
                retryable = classify(e) is Disposition.RETRYABLE
                self.on_attempt_failed(e, retryable and not rejection)
                if rejection:
                    self.breaker.record_success(self.clock())
                elif retryable:
                    self.breaker.record_failure(self.clock())
                    if self.breaker.state is State.OPEN:
                        # Fabric is considered down: this failure says nothing about the command,
                        # so it does not use up its attempts (no command FAILS because of an outage).
                        charged -= 1
                out = after_failure(retryable, rejection, charged, self.policy, self.rand(),
                                    e.validation_code if isinstance(e, CommitError) else None)
                if out.kind is Kind.RETRY:
                    await self.sleep(out.delay)
                    continue
                if self.park_failed_keys:
                    self.parked.add(key)
                await self._final(rec, env, key, ResultStatus.FAILED, attempt, received, submitted_at,
                                  errorCode=out.error_code, error=str(e), dead_letter=out.dead_letter,
                                  fabricTxId=e.tx_id,
                                  validationCode=e.validation_code if isinstance(e, CommitError) else None)
                return
            self.breaker.record_success(self.clock())
            self.on_committed(self.clock() - started)
            await self._final(rec, env, key, ResultStatus.CONFIRMED, attempt, received, submitted_at,
                              fabricTxId=tx.tx_id, commitBlock=status.block, validationCode=status.code)
            return

    async def _wait_for_breaker(self) -> None:
        while not self.breaker.allow(self.clock()):
            await self.sleep(max(0.05, self.breaker.seconds_until_probe(self.clock())))

    def _result(self, env: CommandEnvelope, status: ResultStatus, attempts: int, received: datetime,
                submitted: datetime | None = None, **kw: Any) -> CommandResult:
        now = datetime.now(UTC)
        return CommandResult(commandId=env.id, requestId=env.requestId, tenantId=env.tenantId, key=env.key,
                             status=status, attempts=attempts,
                             timings=Timings(receivedAt=received, submittedAt=submitted,
                                             committedAt=now if status is ResultStatus.CONFIRMED else None,
                                             durationMs=(now - received).total_seconds() * 1000), **kw)

    async def _final(self, rec: Record, env: CommandEnvelope, key: bytes, status: ResultStatus, attempts: int,
                     received: datetime, submitted: datetime | None = None, dead_letter: bool = False,
                     **kw: Any) -> None:
        result = self._result(env, status, attempts, received, submitted, **kw)
        if dead_letter:
            await self.sink.dead_letter(rec, result.error or "", result.errorCode or "", attempts)
        await self.sink.result(key, result)

    async def _reject(self, rec: Record, code: str, reason: str) -> None:
        """An invalid record: a REJECTED result (with whatever ids can be read) and a dead letter."""
        ids = _best_effort_ids(rec.value)
        await self.sink.dead_letter(rec, reason, code, 0)
        result = CommandResult(commandId=ids.get("id", ""), requestId=ids.get("requestId", ""),
                               tenantId=ids.get("tenantId", ""), key=(rec.key or b"").decode(),
                               status=ResultStatus.REJECTED, errorCode=code, error=reason, attempts=0)
        await self.sink.result(rec.key or b"", result)


def _best_effort_ids(value: bytes) -> dict[str, str]:
    try:
        doc = json.loads(value)
    except ValueError:
        return {}
    if not isinstance(doc, dict):
        return {}
    return {k: str(doc[k]) for k in ("id", "requestId", "tenantId") if isinstance(doc.get(k), (str, int))}
