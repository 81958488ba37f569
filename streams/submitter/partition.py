"""The submitter of one partition: its window, its backlog, one task per command in flight. No Kafka.

The Faust agent (streams.submitter.partitions) feeds records in offset order through
:meth:`PartitionSubmitter.offer`, which never blocks: when the window's uncommitted span is full
the record waits in the partition's backlog and ``offer`` answers False; ``hooks.room`` says when
backlog records were admitted. Each command runs as its own task (streams.submitter.process) up to
its final result, which is then published (streams.submitter.publish); only then is it finished,
and ``hooks.committable`` says when the finished prefix, and so the offset to commit, grew.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from streams.breaker import CircuitBreaker
from streams.outcome import RetryPolicy
from streams.submitter.gate import BreakerGate
from streams.submitter.hooks import Hooks
from streams.submitter.ledger import Ledger
from streams.submitter.ports import CommitSource, Gateway, ResultsSink
from streams.submitter.process import CommandProcessor
from streams.submitter.publish import Publisher
from streams.submitter.record import Record
from streams.window import SubmitWindow


@dataclass
class PartitionSubmitter:
    gateway: Gateway
    sink: ResultsSink
    channel: str
    chaincode: str
    window: SubmitWindow
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    clock: Callable[[], float] = time.monotonic
    rand: Callable[[], float] = random.random
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    gate: BreakerGate | None = None  # shared by the agent's partitions; made from ``breaker`` if None
    hooks: Hooks = field(default_factory=Hooks)
    # Once a final result has failed to publish for this long, ``hooks.fatal`` is called.
    publish_deadline: float = 300.0
    # Publish a SUBMITTED progress result after each send (off by default: one produce, one consume
    # and one outbox update per command that nothing needs; the final result carries submittedAt).
    progress: bool = False
    recheck_timeout: float = 5.0  # how long a re-check waits for a transaction sent earlier
    # Commit statuses from one block stream shared by the partitions (None: one call per transaction).
    commits: CommitSource | None = None
    commit_timeout: float = 60.0
    resubmit_after: float = 20.0  # seconds without its block before a transaction is sent again
    service_check: bool = False  # refuse a command whose service may not send its type (permissions.py)
    direct: bool = False  # the partition is of the direct path (gx.commands.direct): no administrative type

    def __post_init__(self) -> None:
        gate = self.gate or BreakerGate(self.breaker, self.clock, self.sleep)
        self.breaker = gate.breaker
        self._publisher = Publisher(
            self.sink,
            self.hooks,
            self.clock,
            self.sleep,
            self.rand,
            self.policy.max_delay,
            self.publish_deadline,
            self.progress,
        )
        ledger = Ledger(
            self.gateway,
            self.channel,
            self.chaincode,
            self.hooks,
            self._publisher,
            self.commits,
            self.recheck_timeout,
            self.commit_timeout,
            self.resubmit_after,
        )
        self._processor = CommandProcessor(
            ledger,
            gate,
            self.hooks,
            self.policy,
            self.clock,
            self.sleep,
            self.rand,
            service_check=self.service_check,
            direct=self.direct,
        )
        self._records: dict[int, Record] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._backlog: deque[Record] = deque()
        self._idle = asyncio.Event()
        self._idle.set()

    def committable(self) -> int | None:
        """The offset to commit: one past the finished prefix (None: nothing finished yet)."""
        return self.window.committable()

    @property
    def backlog(self) -> int:
        """Records taken but not yet admitted to the window."""
        return len(self._backlog)

    @property
    def internal_errors(self) -> int:
        """Unexpected errors inside attempts since start (each retried)."""
        return self._processor.internal_errors

    @property
    def publish_failures(self) -> int:
        """Failed attempts to publish a final result since start (each retried)."""
        return self._publisher.failures

    def stalled(self) -> float:
        """Seconds since the oldest final result that still cannot be published first failed (0: none)."""
        return self._publisher.stalled()

    def offer(self, rec: Record) -> bool:
        """Admit ``rec`` (offsets increasing) and start whatever is ready. False: the window's span
        is full and ``rec`` waits in the backlog. Never raises for what the record holds: one that
        cannot be read as a command keeps its place in the window like any other, and finishes once
        its dead letter is published (streams.submitter.process)."""
        self._idle.clear()
        if self._backlog or self.window.full:
            self._backlog.append(rec)
            return False
        self._admit(rec)
        self._start_ready()
        return True

    def _admit(self, rec: Record) -> None:
        # Records of one key run in order; a record without a key is on its own.
        self.window.add(rec.offset, rec.key_text() or f"offset-{rec.offset}")
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

    async def _run(self, rec: Record) -> None:
        final = await self._processor.settle(rec)
        await self._publisher.final(rec, final)
        self._finish(rec)
        self.hooks.done(rec)

    def _finish(self, rec: Record) -> None:
        moved = self.window.finish(rec.offset)
        del self._records[rec.offset]
        admitted = 0
        while self._backlog and not self.window.full:
            self._admit(self._backlog.popleft())
            admitted += 1
        self._start_ready()
        if moved is not None:
            self.hooks.committable(moved)
        if admitted:
            self.hooks.room()
        if len(self.window) == 0 and not self._backlog:
            self._idle.set()
