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
"""

from __future__ import annotations

import asyncio
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

    async def wait(self, timeout: float) -> Status:
        """The transaction's validation code and block. CommitStatusError after ``timeout`` seconds
        without it (or the CommitStatus call's own errors, before the stream is up)."""
        if self._future is None:
            status = await self.watcher.gateway.commit_status(self.tx_id, self.watcher.channel, timeout=timeout)
            self.watcher.on_answer("call")
            return status
        try:
            status = await asyncio.wait_for(asyncio.shield(self._future), timeout)
            self.watcher.on_answer("stream")
            return status
        except TimeoutError:
            raise CommitStatusError(
                f"no block named the transaction within {timeout:g} s", self.tx_id, grpc.StatusCode.DEADLINE_EXCEEDED
            ) from None

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
        on_break: Callable[[BaseException, float], None] = lambda err, seconds: None,
        on_block: Callable[[int], None] = lambda number: None,
        on_answer: Callable[[str], None] = lambda source: None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.gateway, self.channel, self.remember, self.max_backoff = gateway, channel, remember, max_backoff
        self.on_break, self.on_block, self.on_answer, self.sleep = on_break, on_block, on_answer, sleep
        self.next_block: int | None = None  # the next block to read; None: no block read yet
        self._waiting: dict[str, asyncio.Future[Status]] = {}
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

    def fold(self, number: int, transactions: tuple[tuple[str, str], ...]) -> None:
        """Take one block: answer its expected transactions (pure bookkeeping, no I/O)."""
        if self.next_block is not None and number < self.next_block:
            return  # read already (a stream opened again may repeat nothing, but be sure)
        self.next_block = number + 1
        for tx_id, code in transactions:
            status = Status(tx_id, code, number)
            self._recent[tx_id] = status
            fut = self._waiting.pop(tx_id, None)
            if fut is not None and not fut.done():
                fut.set_result(status)
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
