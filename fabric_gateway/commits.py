"""Commit statuses from one filtered-block stream per client, instead of a signed CommitStatus call
per transaction (what the Gateway's CommitStatus does inside the peer, done once for all).

    commits = CommitWatcher(gateway, "gxchannel")
    commits.start()                        # a task reading DeliverFiltered from the newest block on
    waiter = commits.expect(tx.tx_id)      # before submitting: its block cannot pass unseen
    try:
        await gateway.submit(tx)
        status = await waiter.wait(timeout=60)   # Status(tx_id, code, block); CommitStatusError on timeout
    finally:
        waiter.close()

Contract:
- The stream starts at the channel's newest block and then follows every block in order; after a
  break it resumes at the block after the last one read, so no block is skipped. A transaction
  expected after the first block arrived is in a block the stream reads (it was submitted after
  that block was cut).
- Until the first block arrives (start-up, or a peer that refuses the stream), ``wait`` asks the
  gateway's CommitStatus instead: slower, never wrong.
- Statuses of the last ``remember`` transactions read are kept, so an ``expect`` that comes after
  its block (it should not) is still answered.
- ``wait`` raises CommitStatusError (DEADLINE_EXCEEDED) when no block names the transaction within
  ``timeout``, like the CommitStatus call does: the transaction may still commit, so the caller
  must ask again before it sends another one.
- A transaction can be lost on its way to a block: an orderer that dies holds the transactions it
  has not yet cut into a block, and Fabric tells nobody. Waiting out ``timeout`` then costs a
  minute. So ``wait`` takes ``resubmit`` (what sends the same signed transaction again): it is
  called when a transaction of this watcher's submitted after this one has committed first (it
  was overtaken: the ordering service works, this one is not coming) and every ``resubmit_after``
  seconds without a block naming it. Sending the same transaction again is safe: if both copies
  are ordered, the later one is invalid (DUPLICATE_TXID), and both the stream (which answers the
  first copy a block names) and the peer's CommitStatus (its transaction index keeps the first
  one) report the first copy's validation.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from fabric_gateway.client import Status
from fabric_gateway.errors import CommitStatusError


class Waiter:
    """One expected transaction's commit. ``close`` when done with it (also after a failure)."""

    def __init__(self, watcher: CommitWatcher, tx_id: str, future: asyncio.Future[Status] | None) -> None:
        self.watcher, self.tx_id, self._future = watcher, tx_id, future
        self.overtaken = asyncio.Event()  # a later transaction of the watcher's committed first
        self.resubmits = 0
        self.sent_at = asyncio.get_running_loop().time()

    def submitted(self) -> None:
        """The transaction is being sent (call it just before): the order it is expected in,
        against later ones."""
        self.overtaken.clear()
        self.sent_at = asyncio.get_running_loop().time()
        if self._future is not None and not self._future.done():
            self.watcher._sent_order(self)

    async def wait(
        self,
        timeout: float,
        resubmit: Callable[[], Awaitable[None]] | None = None,
        resubmit_after: float = 20.0,
    ) -> Status:
        """The transaction's validation code and block. CommitStatusError after ``timeout`` seconds
        without it (or the CommitStatus call's own errors, before the stream is up). With
        ``resubmit``, it is awaited when the transaction was overtaken (at least the watcher's
        ``overtaken_grace`` after it was sent: concurrent sends may reach the orderer in either
        order) and after each ``resubmit_after`` seconds without its block (see the module's doc);
        it must not raise."""
        if self._future is None:
            status = await self.watcher.gateway.commit_status(self.tx_id, self.watcher.channel, timeout=timeout)
            self.watcher.on_answer("call")
            return status
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        sending: asyncio.Task[None] | None = None  # a copy being sent: the wait goes on meanwhile
        try:
            while (now := loop.time()) < deadline and not self._future.done():
                until = min(deadline, self.sent_at + resubmit_after) if resubmit is not None else deadline
                overtaken: asyncio.Future[Any] = asyncio.ensure_future(self.overtaken.wait())
                await asyncio.wait({self._future, overtaken}, timeout=until - now, return_when="FIRST_COMPLETED")
                overtaken.cancel()
                if self.overtaken.is_set() and not self._future.done():
                    grace = min(deadline, self.sent_at + self.watcher.overtaken_grace) - loop.time()
                    if grace > 0:
                        await asyncio.wait({self._future}, timeout=grace)
                if self._future.done() or resubmit is None or loop.time() >= deadline:
                    continue
                if sending is None or sending.done():
                    self.resubmits += 1
                    self.submitted()
                    sending = asyncio.ensure_future(resubmit())
                else:  # the last copy is still on its way (a slow orderer): not another one
                    self.sent_at = loop.time()
                    self.overtaken.clear()
        finally:
            if sending is not None and not sending.done():
                sending.cancel()
        if self._future.done():
            self.watcher.on_answer("stream")
            return self._future.result()
        raise CommitStatusError(
            f"no block named the transaction within {timeout:g} s", self.tx_id, grpc.StatusCode.DEADLINE_EXCEEDED
        )

    def close(self) -> None:
        self.watcher._forget(self.tx_id, self._future)


class CommitWatcher:
    """Reads the channel's filtered blocks and answers each expected transaction's commit.

    ``gateway``: anything with ``filtered_blocks(channel, start)`` (an async iterator of
    FilteredBlock) and ``commit_status(tx_id, channel, timeout=)`` (the fallback).
    ``on_break(error, seconds)`` is called when the stream fails, before it is opened again after
    ``seconds``; ``on_block(number)`` after each block read; ``on_answer(source)`` for each status
    a waiter returns, "stream" or "call" (asked per transaction before the stream was up).
    """

    def __init__(
        self,
        gateway: Any,
        channel: str,
        remember: int = 20000,
        max_backoff: float = 2.0,
        overtaken_grace: float = 1.0,
        on_break: Callable[[BaseException, float], None] = lambda err, seconds: None,
        on_block: Callable[[int], None] = lambda number: None,
        on_answer: Callable[[str], None] = lambda source: None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.gateway, self.channel, self.remember, self.max_backoff = gateway, channel, remember, max_backoff
        self.overtaken_grace = overtaken_grace  # how long after its send a transaction may be overtaken
        self.on_break, self.on_block, self.on_answer, self.sleep = on_break, on_block, on_answer, sleep
        self.next_block: int | None = None  # the next block to read; None: no block read yet
        self._waiting: dict[str, asyncio.Future[Status]] = {}
        # The waiters of transactions submitted and not yet in a block, by when they were sent.
        self._order = itertools.count()
        self._in_flight: dict[str, tuple[int, Waiter]] = {}
        self._recent: OrderedDict[str, Status] = OrderedDict()
        self._task: asyncio.Task[None] | None = None

    @property
    def following(self) -> bool:
        """True once a block was read: from then on every expected transaction's block is read."""
        return self.next_block is not None

    def start(self) -> None:
        """Start reading (inside the running event loop). Idempotent."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="commit-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def expect(self, tx_id: str) -> Waiter:
        """Register ``tx_id`` before it is submitted; the returned waiter answers its commit."""
        if not self.following:
            return Waiter(self, tx_id, None)
        fut = self._waiting.get(tx_id)
        if fut is None:
            fut = asyncio.get_running_loop().create_future()
            if (known := self._recent.get(tx_id)) is not None:
                fut.set_result(known)
            else:
                self._waiting[tx_id] = fut
        return Waiter(self, tx_id, fut)

    def _forget(self, tx_id: str, fut: asyncio.Future[Status] | None) -> None:
        if fut is not None and self._waiting.get(tx_id) is fut:
            del self._waiting[tx_id]
        entry = self._in_flight.get(tx_id)
        if entry is not None and entry[1]._future is fut:
            del self._in_flight[tx_id]

    def _sent_order(self, waiter: Waiter) -> None:
        self._in_flight[waiter.tx_id] = (next(self._order), waiter)

    def fold(self, number: int, transactions: tuple[tuple[str, str], ...]) -> None:
        """Take one block: answer its expected transactions (pure bookkeeping, no I/O)."""
        if self.next_block is not None and number < self.next_block:
            return  # read already (a stream opened again may repeat nothing, but be sure)
        self.next_block = number + 1
        latest = -1  # the latest-sent of ours this block committed
        for tx_id, code in transactions:
            status = Status(tx_id, code, number)
            # The first copy a block names is the transaction's (a copy sent again is DUPLICATE_TXID).
            self._recent.setdefault(tx_id, status)
            fut = self._waiting.pop(tx_id, None)
            if fut is not None and not fut.done():
                fut.set_result(status)
            if (entry := self._in_flight.pop(tx_id, None)) is not None:
                latest = max(latest, entry[0])
        for order, waiter in self._in_flight.values():
            if order < latest:
                waiter.overtaken.set()
        while len(self._recent) > self.remember:
            self._recent.popitem(last=False)
        self.on_block(number)

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                async for block in self.gateway.filtered_blocks(self.channel, self.next_block):
                    failures = 0
                    self.fold(block.number, block.transactions)
                err: BaseException = ConnectionError("the block stream ended")
            except asyncio.CancelledError:
                raise
            except Exception as e:  # GatewayError mostly; anything else must not end the watcher
                err = e
            failures += 1
            delay = min(self.max_backoff, 0.05 * 2 ** min(failures, 8))
            self.on_break(err, delay)
            await self.sleep(delay)
