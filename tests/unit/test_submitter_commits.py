"""What Kafka gets committed for the submitter, through faust-streaming 0.15.3's own bookkeeping.

The agent state (streams.submitter.partitions.Submitters) runs against the fake gateway (fault
injection: one command held), and its events are real Faust ``ConsumerMessage`` objects acked
through Faust's real ``Consumer.ack``; the offset Faust would commit comes from its real
``Consumer._filter_committable_offsets`` (``_new_offset``, ``_should_commit``), applied as its
``_commit_offsets`` does; revocation pops Faust's state as its ``Consumer.on_partitions_revoked``
does before our handler runs (issue 20, items 1 and 2).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

import faust
import pytest
from faust.transport.consumer import Consumer
from faust.types import TP
from faust.types.tuples import ConsumerMessage
from intervaltree import IntervalTree

from fabric_gateway import Identity
from fabric_gateway.identity import ecdsa_signer
from gxcommon.fabric_settings import FabricSettings
from streams.breaker import CircuitBreaker
from streams.outcome import RetryPolicy
from streams.submitter import BreakerGate
from streams.submitter.faust_io import FaustSink
from streams.submitter.partitions import Submitters
from tests.unit.fake_gateway import Script, serve
from tests.unit.test_submitter import Clock, MemorySink, command
from tests.waiting import wait_until_async

TOPIC = "gx.commands"
TP0 = TP(TOPIC, 0)


class _Topics:
    def acks_enabled_for(self, topic: str) -> bool:
        return True


class FaustBook:
    """The attributes faust's Consumer methods use, with those methods bound to it."""

    ack = Consumer.ack
    _new_offset = Consumer._new_offset
    _should_commit = Consumer._should_commit
    _filter_committable_offsets = Consumer._filter_committable_offsets

    def __init__(self) -> None:
        self.app = type("App", (), {"topics": _Topics()})()
        self._committed_offset: dict[TP, int | None] = defaultdict(lambda: None)
        self._gap: dict[TP, IntervalTree] = defaultdict(IntervalTree)
        self._acked: dict[TP, list[int]] = defaultdict(list)
        self._acked_index: dict[TP, set[int]] = defaultdict(set)
        self._unacked_messages: set[Any] = set()
        self._n_acked = 0
        self._waiting_for_ack = None
        self.commits: list[dict[TP, int]] = []

    def as_consumer(self) -> Consumer:
        """This book where faust's methods take their Consumer (it has every attribute they use)."""
        return cast(Consumer, self)

    def periodic_commit(self) -> dict[TP, int]:
        """What faust's commit timer does: commit what its acked bookkeeping allows."""
        offsets = Consumer._filter_committable_offsets(self.as_consumer(), list(self._acked))
        if offsets:
            self._committed_offset.update(offsets)
            self.commits.append(offsets)
        return offsets

    def revoked(self, tp: TP) -> None:
        """faust's Consumer.on_partitions_revoked, before the app's handlers run."""
        for attr in (self._gap, self._acked, self._acked_index, self._committed_offset):
            attr.pop(tp, None)

    def committed(self, tp: TP) -> int | None:
        return self._committed_offset[tp]

    # What our revoke handler calls (the driver-level commit, not faust's bookkeeping).
    async def _commit(self, offsets: dict[TP, int]) -> bool:
        self._committed_offset.update(offsets)
        self.commits.append(dict(offsets))
        return True

    def assignment(self) -> set[TP]:
        return {TP0}

    def highwater(self, tp: TP) -> int:
        return 0


@dataclass
class Event:
    """A Faust event as the agent sees it: ack() goes through faust's real Message.ack."""

    message: ConsumerMessage
    book: FaustBook

    def ack(self) -> bool:
        return self.message.ack(self.book.as_consumer())


def event(book: FaustBook, offset: int, ctype: str, n: object) -> Event:
    msg = ConsumerMessage(
        TOPIC, 0, offset, 0.0, 0, [], f"K-{n}".encode(), command(ctype, n, f"r{offset}"), None, tp=TP0
    )
    msg.incref()  # the stream's reference, as faust's conductor takes it
    return Event(msg, book)


@dataclass
class App:
    consumer: FaustBook
    producer: Any = field(default_factory=lambda: type("P", (), {"flush": staticmethod(_noop)})())


async def _noop() -> None:
    return None


@pytest.fixture
async def setup() -> AsyncIterator[tuple[Any, Submitters, FaustBook, MemorySink]]:
    async with serve() as (fake, port, key):
        book, sink = FaustBook(), MemorySink()
        gate = BreakerGate(CircuitBreaker(), Clock(), asyncio.sleep)
        state = Submitters(
            cast(faust.App, App(book)),  # a stand-in: faust's commit bookkeeping, a producer that flushes
            cast(FaustSink, sink),  # records in memory what FaustSink would send
            FabricSettings(gateway=f"127.0.0.1:{port}", insecure_plaintext=True),
            Identity("Org1MSP", b"cert"),
            ecdsa_signer(key),
            80,
            gate,
            RetryPolicy(base_delay=0.01),
            topics=(TOPIC,),
        )
        yield fake, state, book, sink
        await state.close()


async def finals(sink: MemorySink, n: int) -> None:
    """Until ``n`` commands have their final result."""
    await wait_until_async(lambda: len(sink.final()), f"{n} final results", until=lambda got: got >= n, timeout=10)


async def test_faust_never_commits_past_a_command_still_in_flight(setup) -> None:
    """Issue 20, item 1: offsets 0-4 done and committed (5); offset 5 held in Fabric while 6-9
    finish. faust's own check lets 6-9 acked over committed 5 through (11 - 10 == 1 is its
    "no gap"), so acking them as they finish made it commit 10, and a crash lost offset 5."""
    fake, state, book, sink = setup
    for i in range(5):
        await state.take(event(book, i, "CREATE_USER", i))
    await finals(sink, 5)
    assert book.periodic_commit() == {TP0: 5}
    fake.scripts["TokenomicsContract:FreezeWallet"] = Script(delay=3)
    await state.take(event(book, 5, "FREEZE_WALLET", "held"))
    for i in range(6, 10):
        await state.take(event(book, i, "CREATE_USER", i))
    await finals(sink, 9)
    assert "r5" not in sink.final()
    book.periodic_commit()
    assert book.committed(TP0) == 5, "faust committed past a command still in flight"
    await wait_until_async(lambda: "r5" in sink.final(), "the held command's final result", timeout=10)
    assert book.periodic_commit() == {TP0: 10}


async def test_a_revoked_partition_commits_exactly_its_finished_prefix(setup) -> None:
    """Issue 20, item 2: faust drops its acked bookkeeping of a revoked partition before our
    handler runs; the handler cancels what is in flight and commits the window's exact offset."""
    fake, state, book, sink = setup
    fake.scripts["TokenomicsContract:FreezeWallet"] = Script(delay=30)
    for i in range(3):
        await state.take(event(book, i, "CREATE_USER", i))
    await state.take(event(book, 3, "FREEZE_WALLET", "held"))
    await state.take(event(book, 4, "CREATE_USER", 4))
    await finals(sink, 4)
    book.revoked(TP0)  # faust, before the on_partitions_revoked signal
    t0 = asyncio.get_running_loop().time()
    await state.revoke({TP(TOPIC, 0)})
    assert asyncio.get_running_loop().time() - t0 < 2  # the held command was cancelled, not awaited
    assert book.commits[-1] == {TP0: 3} and "r3" not in sink.final()
