"""The submitter agent's state (streams.submitter.partitions.Submitters, which the Faust agent drives):
acks out of order, rebalances, per-partition back-pressure, the breaker's pause, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import faust
import grpc
import pytest
from faust.types import TP

from fabric_gateway import Identity
from fabric_gateway.identity import ecdsa_signer
from gxcommon.fabric_settings import FabricSettings
from streams.breaker import CircuitBreaker, State
from streams.outcome import RetryPolicy
from streams.submitter import BreakerGate
from streams.submitter.faust_io import FaustSink
from streams.submitter.partitions import Submitters
from tests.unit.fake_gateway import FakeGateway, Script, serve
from tests.unit.test_submitter import Clock, MemorySink, command
from tests.waiting import wait_until_async

TOPIC = "gx.commands"
DIRECT = "gx.commands.direct"


@dataclass
class FakeConsumer:
    paused: set[TP] = field(default_factory=set)  # pause_partitions: never called (it would drop records)
    stopped: set[TP] = field(default_factory=set)  # on_buffer_full: not fetched, nothing fetched dropped
    high: dict[TP, int] = field(default_factory=dict)
    commits: list[dict[TP, int]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)  # stops and fetches again, in order

    def pause_partitions(self, tps) -> None:
        self.paused |= set(tps)

    def resume_partitions(self, tps) -> None:
        self.paused -= set(tps)

    def on_buffer_full(self, tp: TP) -> None:
        self.stopped.add(tp)
        self.log.append(f"stop {tp.partition}")

    def on_buffer_drop(self, tp: TP) -> None:
        self.stopped.discard(tp)
        self.log.append(f"fetch {tp.partition}")

    def highwater(self, tp: TP) -> int:
        return self.high[tp]

    async def _commit(self, offsets: dict[TP, int]) -> bool:  # the driver-level commit revoke uses
        self.commits.append(dict(offsets))
        return True


@dataclass
class FakeProducer:
    async def flush(self) -> None:
        pass


@dataclass
class FakeApp:
    consumer: FakeConsumer = field(default_factory=FakeConsumer)
    producer: FakeProducer = field(default_factory=FakeProducer)


@dataclass
class Msg:
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    headers: list = field(default_factory=list)


@dataclass
class Event:
    message: Msg
    acks: int = 0
    log: list[tuple[int, int]] | None = None  # where each ack is recorded, in order, if given

    def ack(self) -> None:
        self.acks += 1
        if self.log is not None:
            self.log.append((self.message.partition, self.message.offset))


class Sink(MemorySink):
    async def result(self, key, result) -> None:  # FaustSink's signature, recorded in memory
        await super().result(key, result)


@pytest.fixture
async def agent() -> AsyncIterator[tuple[FakeGateway, Submitters, FakeApp, Sink]]:
    async with serve() as (fake, port, key):
        app, sink = FakeApp(), Sink()
        gate = BreakerGate(
            CircuitBreaker(failure_threshold=2, first_probe_delay=3600, max_probe_delay=3600), Clock(), asyncio.sleep
        )
        state = Submitters(
            cast(faust.App, app),  # a stand-in with the consumer and producer calls Submitters makes
            cast(FaustSink, sink),  # records in memory what FaustSink would send
            FabricSettings(gateway=f"127.0.0.1:{port}", insecure_plaintext=True),
            Identity("Org1MSP", b"cert"),
            ecdsa_signer(key),
            2,
            gate,
            RetryPolicy(base_delay=0.01),
            span=2,
            backlog_cap=2000,
        )
        yield fake, state, app, sink
        await state.close()


def event(
    partition: int,
    offset: int,
    ctype: str = "CREATE_USER",
    n: object = None,
    log: list[tuple[int, int]] | None = None,
    topic: str = TOPIC,
) -> Event:
    n = n if n is not None else f"{partition}-{offset}"
    rid = f"r{partition}-{offset}" + ("" if topic == TOPIC else "-direct")
    msg = Msg(topic, partition, offset, f"USR-{n}".encode(), command(ctype, n, rid))
    return Event(msg, log=log)


async def soon_disconnected(conn: object, timeout: float = 5.0) -> bool:
    """Whether a probe's wait for the channel comes back False within ``timeout`` seconds, asked
    every tenth of a second (a server just stopped: gRPC sees its connection go after a moment,
    not at once; until then the channel is still READY and the wait answers True at once)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if not await conn.connected(0.1):  # type: ignore[attr-defined]
            return True
        await asyncio.sleep(0.1)
    return False


async def fake_peer(key: Any, port: int = 0) -> tuple[Any, int]:
    """An in-process fake peer (Gateway and Deliver) on ``port`` (0: any free one), started."""
    from fabric_protos.gateway import gateway_pb2_grpc
    from fabric_protos.peer import events_pb2_grpc
    from grpc import aio

    server = aio.server()
    fake = FakeGateway(key.public_key())
    gateway_pb2_grpc.add_GatewayServicer_to_server(fake, server)
    events_pb2_grpc.add_DeliverServicer_to_server(fake, server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server, bound


async def until(cond: Callable[[], object], what: str, timeout: float = 10) -> None:
    await wait_until_async(cond, what, timeout=timeout)


async def in_flight(fake: FakeGateway, n: int) -> None:
    """Until the fake gateway has received ``n`` endorsements (it records each as it arrives)."""
    await wait_until_async(lambda: len(fake.calls), f"{n} endorsements in flight", until=lambda c: c >= n, timeout=5)


async def test_events_are_acked_in_offset_order_only_up_to_the_finished_prefix(agent) -> None:
    fake, state, _app, sink = agent
    fake.scripts["IdentityContract:CreateUser"] = Script(delay=0.2)
    acked: list[tuple[int, int]] = []
    slow = [event(0, 0, log=acked), event(0, 2, log=acked)]
    quick = [event(0, 1, "FREEZE_WALLET", "q", log=acked)]  # another function: answers at once
    for ev in (slow[0], quick[0], slow[1]):
        await state.take(ev)
    await until(lambda: all(e.acks == 1 for e in slow + quick), "every event acked")
    # Offset 1 finished first, yet was acked only after offset 0: acking it at once would let
    # Faust commit past 0 while 0 was in flight.
    assert next(iter(sink.final())) == "r0-1"
    assert acked == [(0, 0), (0, 1), (0, 2)]
    assert [e.acks for e in slow + quick] == [1, 1, 1]


async def test_a_full_partition_waits_in_its_backlog_while_another_goes_on_and_nothing_is_paused(agent) -> None:
    fake, state, app, _sink = agent
    fake.scripts["IdentityContract:CreateUser"] = Script(delay=0.3)
    busy = [event(0, i) for i in range(4)]  # window 2: partition 0 overflows into its backlog
    for ev in busy:
        await state.take(ev)
    assert state.backlog() == 2
    other = event(1, 0, "FREEZE_WALLET", "o")
    await state.take(other)  # partition 1 is not held back by partition 0
    await until(lambda: other.acks == 1, "partition 1's event acked", 2)
    assert any(e.acks == 0 for e in busy)
    await until(lambda: all(e.acks == 1 for e in busy), "partition 0's events acked")
    assert app.consumer.paused == set() and state.backlog() == 0


async def test_a_partition_at_its_backlog_cap_stops_fetching_alone_and_fetches_again_once_it_drains(agent) -> None:
    """Issue 30, defect 6: back-pressure per partition. Partition 0's window and backlog fill
    behind slow commands: the agent must not wait (it used to block in take(), so every partition
    stopped); partition 0 alone stops fetching (Faust's own flow control, never pause_partitions,
    which drops records), what Faust already holds of it is still taken (the cap is soft), and it
    fetches again once its backlog is down to half the cap."""
    fake, state, app, _sink = agent
    fake.scripts["IdentityContract:CreateUser"] = Script(delay=1.0)  # partition 0's commands
    state.backlog_cap = 2
    tp0 = TP(TOPIC, 0)
    evs = [event(0, i) for i in range(6)]
    for ev in evs[:4]:  # a window (span 2) and a backlog (cap 2) full
        await asyncio.wait_for(state.take(ev), 0.5)
    assert state.subs[tp0].backlog == 2 and app.consumer.stopped == {tp0} and state.paused == {tp0}
    other = event(1, 0, "FREEZE_WALLET", "o")
    await asyncio.wait_for(state.take(other), 0.5)  # partition 1 goes on
    await until(lambda: other.acks == 1, "partition 1's event acked", 2)
    for ev in evs[4:]:  # already fetched before it stopped: taken anyway
        await asyncio.wait_for(state.take(ev), 0.5)
    assert state.subs[tp0].backlog == 4 and app.consumer.stopped == {tp0}
    await until(lambda: tp0 not in app.consumer.stopped, "partition 0 fetching again once its backlog drained", 5)
    assert app.consumer.log == ["stop 0", "stop 0", "stop 0", "fetch 0"] and state.paused == set()
    assert app.consumer.paused == set()  # never paused through Faust
    nxt = event(0, 6)
    await state.take(nxt)
    await until(lambda: all(e.acks == 1 for e in [*evs, nxt]), "partition 0's events acked, once each, in order")
    from prometheus_client import REGISTRY

    assert REGISTRY.get_sample_value("submitter_partitions_paused") == 0.0


async def test_partition_0_of_each_commands_topic_has_its_own_submitter_and_offsets(agent) -> None:
    """gx.commands and gx.commands.direct (the direct path) share partition numbers: each topic's
    partition is its own window, backlog and last offset; a revocation of one leaves the other."""
    fake, state, _app, sink = agent
    state.direct_topic = DIRECT
    outbox = event(0, 5, "CREATE_USER", "a")
    direct = event(0, 5, "CREATE_USER", "b", topic=DIRECT)  # the same partition and offset
    await state.take(outbox)
    await state.take(direct)
    await until(lambda: outbox.acks == 1 and direct.acks == 1, "both acked")
    assert set(sink.final()) == {"r0-5", "r0-5-direct"} and len(fake.calls) == 2
    assert set(state.subs) == {TP(TOPIC, 0), TP(DIRECT, 0)}
    assert state.subs[TP(DIRECT, 0)].direct and not state.subs[TP(TOPIC, 0)].direct
    await state.revoke({TP(DIRECT, 0)})
    assert set(state.subs) == {TP(TOPIC, 0)} and state.last_offset == {TP(TOPIC, 0): 5}


async def test_a_record_at_or_below_the_last_offset_taken_is_dropped_not_registered(agent) -> None:
    _fake, state, _app, sink = agent
    first, again = event(2, 5, "FREEZE_WALLET", "a"), event(2, 5, "FREEZE_WALLET", "a")
    await state.take(first)
    await state.take(again)  # a window would refuse it (offsets only move forward): the agent would crash
    await until(lambda: first.acks == 1, "the first delivery acked")
    assert again.acks == 0 and len(sink.final()) == 1


async def test_a_revoked_partition_is_cancelled_unacked_and_a_new_assignment_starts_clean(agent) -> None:
    fake, state, _app, _sink = agent
    fake.scripts["IdentityContract:CreateUser"] = Script(delay=0.5)
    old = [event(3, 10), event(3, 11)]
    for ev in old:
        await state.take(ev)
    await in_flight(fake, 2)
    await state.revoke({TP(TOPIC, 3)})
    assert TP(TOPIC, 3) not in state.subs and [e.acks for e in old] == [0, 0]
    # Assigned again: the same offsets arrive as new events; only they are acked, each once.
    fake.scripts["IdentityContract:CreateUser"] = Script()
    new = [event(3, 10), event(3, 11)]
    for ev in new:
        await state.take(ev)
    await until(lambda: all(e.acks == 1 for e in new), "the new events acked")
    # Nothing to wait for: the old tasks must never ack. Past the fake's delay, had they survived
    # the revoke, they would have.
    await asyncio.sleep(0.6)
    assert [e.acks for e in old] == [0, 0] and [e.acks for e in new] == [1, 1]


async def test_an_open_breaker_is_reported_with_the_lag_and_no_partition_is_paused(agent) -> None:
    fake, state, app, _sink = agent
    from prometheus_client import REGISTRY

    assigned = {TP(TOPIC, 0), TP(TOPIC, 1)}
    app.consumer.high = {TP(TOPIC, 0): 10, TP(TOPIC, 1): 5}
    fake.down = True
    await state.take(event(0, 3))
    await state.take(event(1, 0, "FREEZE_WALLET", "b"))
    await until(lambda: state.gate.breaker.state is State.OPEN, "the breaker open")
    state.watch(assigned)
    assert REGISTRY.get_sample_value("circuit_breaker_state", {"name": "fabric"}) == 1.0
    assert REGISTRY.get_sample_value("submitter_consumer_lag", {"topic": TOPIC, "partition": "0"}) == 6.0
    assert REGISTRY.get_sample_value("submitter_consumer_lag", {"topic": TOPIC, "partition": "1"}) == 4.0
    assert app.consumer.paused == set()  # never through Faust (see streams/submitter/partitions.py)


async def test_close_cancels_everything_and_closes_the_channel(agent) -> None:
    fake, state, _app, _sink = agent
    fake.scripts["IdentityContract:CreateUser"] = Script(delay=5)
    evs = [event(0, 0), event(1, 0)]
    for ev in evs:
        await state.take(ev)
    await in_flight(fake, 2)
    await asyncio.wait_for(state.close(), 5)
    assert state.subs == {} and [e.acks for e in evs] == [0, 0]
    assert state.fabric.channel is not None
    with pytest.raises(grpc.aio.UsageError):  # the channel is closed
        await state.fabric.open().endorse("gxchannel", "gxtv3", "F", [])


async def test_every_transaction_sent_is_counted_without_progress_results(agent) -> None:
    """fabric_transactions_submitted_total counts sends, not SUBMITTED results: with those off (the
    default since issue 23) the counter was counted by the sink and stayed at 0."""
    _fake, state, _app, sink = agent
    from prometheus_client import REGISTRY

    before = REGISTRY.get_sample_value("fabric_transactions_submitted_total") or 0.0
    for i in range(3):
        await state.take(event(0, i, "FREEZE_WALLET", f"c{i}"))
    await until(lambda: len(sink.final()) == 3, "three final results")
    assert not any(r.status.value == "SUBMITTED" for r in sink.results)
    assert (REGISTRY.get_sample_value("fabric_transactions_submitted_total") or 0.0) - before == 3


async def test_the_channel_connecting_again_wakes_the_breaker_and_a_probe_waits_for_the_channel() -> None:
    """Issue 30, recovery in seconds: the peer stops and comes back on its port. The submitter's
    channel connecting again calls the gate's wake (an open breaker probes at once), and a probe's
    wait for the channel answers False while nothing listens, True once the peer is back."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from grpc import aio

    from streams.submitter.connection import FabricConnection

    key = ec.generate_private_key(ec.SECP256R1())

    async def start(port: int = 0) -> tuple[aio.Server, int]:
        return await fake_peer(key, port)

    server, port = await start()
    woken: list[int] = []
    conn = FabricConnection(
        FabricSettings(gateway=f"127.0.0.1:{port}", insecure_plaintext=True),
        Identity("Org1MSP", b"cert"),
        ecdsa_signer(key),
        commit_stream=False,
        on_connected=lambda: woken.append(1),
    )
    try:
        conn.open()
        assert await conn.connected(2)
        await until(lambda: woken == [1], "the first connection told")
        await server.stop(None)
        assert await soon_disconnected(conn)
        server, _ = await start(port)
        assert await conn.connected(5)
        await until(lambda: woken == [1, 1], "the connection again told", 5)
    finally:
        await conn.close()
        await server.stop(None)


async def test_attempts_in_flight_are_bounded_across_every_partition_of_both_topics(agent) -> None:
    """The review: with gx.commands.direct beside gx.commands, 12 windows of 80 could send 960
    calls at once to a peer that refuses past 500 (RESOURCE_EXHAUSTED, which opens the breaker).
    One bound for the whole submitter (GX_SUBMIT_MAX_IN_FLIGHT) holds across partitions and topics."""
    fake, state, _app, sink = agent
    fake.scripts["IdentityContract:CreateUser"] = Script(delay=0.4)
    state.slots = asyncio.Semaphore(3)
    evs = [event(p, 0, topic=topic) for topic in (TOPIC, DIRECT) for p in range(4)]  # 8 windows of 2
    for ev in evs:
        await state.take(ev)
    await in_flight(fake, 3)
    await asyncio.sleep(0.2)  # what more would have arrived by now, unbounded: 8
    assert len(fake.calls) == 3
    await until(lambda: all(e.acks == 1 for e in evs), "every command done, three at a time", 10)
    assert len(sink.final()) == 8


async def test_with_two_gateway_endpoints_a_probe_needs_either_channel_and_each_return_wakes() -> None:
    """Issue 34: with GX_FABRIC_GATEWAY=a,b a probe waited on the first endpoint's channel only, so
    with that peer gone for good an open breaker would never probe the other. Some endpoint's
    channel connected is enough, and either one's return wakes the breaker."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from grpc import aio

    from streams.submitter.connection import FabricConnection

    key = ec.generate_private_key(ec.SECP256R1())

    async def start(port: int = 0) -> tuple[aio.Server, int]:
        return await fake_peer(key, port)

    first, p1 = await start()
    second, p2 = await start()
    await first.stop(None)  # the first endpoint is down from the start
    woken: list[int] = []
    conn = FabricConnection(
        FabricSettings(gateway=f"127.0.0.1:{p1},127.0.0.1:{p2}", insecure_plaintext=True),
        Identity("Org1MSP", b"cert"),
        ecdsa_signer(key),
        commit_stream=False,
        on_connected=lambda: woken.append(1),
    )
    try:
        conn.open()
        assert conn.pool is not None and len(conn._channels()) == 2
        assert await conn.connected(2)  # the second endpoint's channel
        await until(lambda: woken == [1], "the second endpoint's connection told")
        await second.stop(None)
        assert await soon_disconnected(conn)
        first, _ = await start(p1)  # the first endpoint comes back
        assert await conn.connected(5)
        await until(lambda: woken == [1, 1], "the first endpoint's connection told", 5)
    finally:
        await conn.close()
        await first.stop(None)
