"""The submitter's Faust edge: records read from messages, acks in offset order, the agent's hooks,
and the one private Faust call (Consumer._commit), whose shape these tests pin."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import grpc
from faust.transport.consumer import Consumer, ThreadDelegateConsumer
from faust.transport.drivers import aiokafka as driver
from faust.types import TP
from faust.types.tuples import ConsumerMessage
from prometheus_client import REGISTRY

from fabric_gateway import EndorseError, ErrorDetail
from streams.submitter import Record
from streams.submitter.faust_io import FaustSink, commit_exactly, fetch_again, record_of, stop_fetching
from streams.submitter.partition_hooks import PartitionHooks, Refusals, ack_through
from tests.unit.test_submitter_agent import Event, Msg

TP0 = TP("gx.commands", 0)


def test_a_message_becomes_a_record_with_bytes_headers() -> None:
    headers = [("id", b"1"), ("n", "text")]  # a header value as text, which Faust's type does not allow
    listed = ConsumerMessage("gx.commands", 2, 9, 0.0, 0, headers, b"k", b"v", None, tp=TP0)  # type: ignore[arg-type]
    assert record_of(listed) == Record("gx.commands", 2, 9, b"k", b"v", (("id", b"1"), ("n", b"text")))
    mapped = ConsumerMessage("gx.commands", 2, 10, 0.0, 0, {"id": b"2"}, None, None, None, tp=TP0)
    assert record_of(mapped) == Record("gx.commands", 2, 10, None, b"", (("id", b"2"),))


def test_events_are_acked_in_offset_order_only_below_the_committable_offset() -> None:
    events: dict[int, Any] = {o: Event(Msg("gx.commands", 0, o, b"k", b"v")) for o in (3, 4, 5, 7)}
    acked = dict(events)
    ack_through(events, 6)
    assert [o for o, e in acked.items() if e.acks] == [3, 4, 5] and list(events) == [7]
    ack_through(events, 6)
    assert acked[7].acks == 0 and acked[3].acks == 1


def test_the_agents_hooks_signal_room_count_failures_and_pass_a_fatal_error_on() -> None:
    rooms, fatal = list[int](), list[BaseException]()
    hooks = PartitionHooks({}, lambda: rooms.append(1), fatal.append)
    hooks.room()
    assert rooms == [1]

    def sample(name: str, labels: dict[str, str]) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = (
        sample("fabric_endorsement_failures_total", {"kind": "EndorseError"}),
        sample("circuit_breaker_failures_total", {"name": "fabric"}),
    )
    hooks.attempt_failed(EndorseError("down", "tx", grpc.StatusCode.UNAVAILABLE), True)
    hooks.attempt_failed(EndorseError("no", "tx", grpc.StatusCode.INVALID_ARGUMENT), False)
    after = (
        sample("fabric_endorsement_failures_total", {"kind": "EndorseError"}),
        sample("circuit_breaker_failures_total", {"name": "fabric"}),
    )
    assert (after[0] - before[0], after[1] - before[1]) == (2, 1)
    err = RuntimeError("cannot publish")
    hooks.fatal(err)
    assert fatal == [err]


def test_refusals_of_the_chaincode_are_counted_by_code_and_said_on_readiness_until_a_commit() -> None:
    """Issue 30, defect 3: an error the chaincode throws and records nowhere is a fault of the
    deployment: counted (submitter_chaincode_refusals_total, by the chaincode's code) and said on
    /readyz until a command commits again or a minute passes."""
    now = [100.0]
    refusals = Refusals(lambda: now[0], window=60)
    hooks = PartitionHooks({}, lambda: None, lambda e: None, refusals=refusals)

    def count(code: str) -> float:
        return REGISTRY.get_sample_value("submitter_chaincode_refusals_total", {"code": code}) or 0.0

    before = (count("FORBIDDEN"), count("ERROR"))
    forbidden = "chaincode response 500, FORBIDDEN: Org1MSP identity x::CN=User2 may not submit commands"
    detail = (ErrorDetail("peer0", "Org1MSP", forbidden),)
    assert refusals.reason() is None
    hooks.attempt_failed(EndorseError("failed to endorse", "tx", grpc.StatusCode.ABORTED, detail), False)
    bug = (ErrorDetail("peer0", "Org1MSP", "chaincode response 500, TypeError: x is undefined"),)
    hooks.attempt_failed(EndorseError("failed to endorse", "tx", grpc.StatusCode.ABORTED, bug), False)
    hooks.attempt_failed(EndorseError("down", "tx", grpc.StatusCode.UNAVAILABLE), True)  # an outage: not a refusal
    assert (count("FORBIDDEN") - before[0], count("ERROR") - before[1]) == (1, 1)
    reason = refusals.reason()
    assert reason is not None and "CHAINCODE_REFUSED" in reason and "TypeError: x is undefined" in reason
    assert "2 refusals" in reason
    now[0] += 59
    assert refusals.reason() is not None
    hooks.committed(0.2)  # a command went through: the deployment works again
    assert refusals.reason() is None
    hooks.attempt_failed(EndorseError("failed to endorse", "tx", grpc.StatusCode.ABORTED, detail), False)
    assert "FORBIDDEN" in (refusals.reason() or "")
    now[0] += 61  # a minute without another refusal
    assert refusals.reason() is None


@dataclass
class Topic:
    """A Faust topic's send, recorded; delivered at once."""

    sent: list[tuple[bytes | None, bytes | None, dict[str, bytes]]] = field(default_factory=list)

    async def send(self, key=None, value=None, headers=None, force=False) -> asyncio.Future:
        self.sent.append((key, value, dict(headers or {})))
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut


async def test_a_dead_letter_too_large_to_send_whole_goes_without_its_value_and_says_where_it_is() -> None:
    """Issue 30, defect 2: a record near the size limit plus the headers that say why is over the
    producer's limit; sending it whole would fail for ever (its partition stopped, then the worker
    exited). It goes without its value, which stays on gx.commands."""
    dlq = Topic()
    sink = FaustSink(Topic(), dlq, max_bytes=100_000)  # type: ignore[arg-type]
    await sink.dead_letter(Record("gx.commands", 3, 17, b"k", b"x" * 99_000, (("id", b"1"),)), "big", "E", 0)
    await sink.dead_letter(Record("gx.commands", 3, 18, b"k", b"v", (("id", b"2"),)), "bad", "E", 0)
    (key, value, headers), (_, small, small_headers) = dlq.sent
    assert key == b"k" and value is None and headers["valueOmitted"] == b"99000" and headers["id"] == b"1"
    assert headers["reason"].startswith(b"big; the value (99000 bytes)") and b"gx.commands[3]@17" in headers["reason"]
    assert small == b"v" and "valueOmitted" not in small_headers and small_headers["reason"] == b"bad"


def test_a_header_without_a_value_is_empty_not_none() -> None:
    msg = ConsumerMessage("gx.commands", 2, 9, 0.0, 0, [("x", None)], b"k", b"v", None, tp=TP0)  # type: ignore[list-item]
    assert record_of(msg).headers == (("x", b""),)


# The private call. If one of these fails, Faust changed what commit_exactly relies on: read
# streams/submitter/faust_io.py and faust-streaming's Consumer before changing either.


def test_faust_has_no_public_call_that_commits_given_offsets() -> None:
    """The public commit takes topics and commits from Faust's own bookkeeping; a new parameter
    here may be the public way to do what commit_exactly does."""
    assert list(inspect.signature(Consumer.commit).parameters) == ["self", "topics", "start_new_transaction"]


def test_the_private_commit_is_a_coroutine_of_the_offsets_answering_a_bool() -> None:
    for cls in (Consumer, ThreadDelegateConsumer, driver.Consumer):
        method = cls._commit
        assert inspect.iscoroutinefunction(method), cls
        sig = inspect.signature(method)
        assert list(sig.parameters) == ["self", "offsets"], cls
        assert sig.return_annotation in (bool, "bool"), cls
    assert driver.Consumer._commit is ThreadDelegateConsumer._commit  # what the worker's consumer runs


@dataclass
class DriverThread:
    """The aiokafka consumer thread's public commit, recorded."""

    commits: list[Mapping[TP, int]] = field(default_factory=list)

    async def commit(self, offsets: Mapping[TP, int]) -> bool:
        self.commits.append(dict(offsets))
        return True


class DelegatingConsumer:
    """Faust's own ThreadDelegateConsumer._commit, on an object with only the thread it uses."""

    _commit = ThreadDelegateConsumer._commit

    def __init__(self) -> None:
        self._thread = DriverThread()


async def test_commit_exactly_hands_exactly_the_offsets_to_the_drivers_commit() -> None:
    consumer: Any = DelegatingConsumer()
    assert await commit_exactly(consumer, {TP0: 12, TP("gx.commands", 3): 5}) is True
    assert consumer._thread.commits == [{TP0: 12, TP("gx.commands", 3): 5}]
    assert list(inspect.signature(driver.AIOKafkaConsumerThread.commit).parameters) == ["self", "offsets"]


# What stop_fetching relies on (and why not pause_partitions), on faust-streaming's own getmany,
# _drain_messages, pause_partitions, resume_partitions, on_buffer_full and on_buffer_drop, run
# over a fake broker. If one of these fails, Faust changed what streams/submitter/faust_io.py relies
# on: read it and Faust's Consumer before changing either.


@dataclass
class Fetched:
    offset: int


@dataclass
class Delivered:
    tp: TP
    offset: int
    key: bytes = b""
    value: bytes = b""

    @property
    def topic(self) -> str:
        return self.tp.topic


class Drain:
    """The attributes faust-streaming's Consumer uses in getmany, _drain_messages and its flow
    control, around a fake broker: ``ends`` records per partition, fetched ``batch`` at a time from
    the driver's position, only for the partitions Faust asks for (as aiokafka's fetched_records:
    the others keep their position). Faust's own code runs; ``on_delivered`` is told each record its
    drain loop hands to the streams (where the agent takes it)."""

    # Faust's own methods, run on this object (Any: mypy would want a Consumer for self).
    getmany: Any = Consumer.getmany
    _drain_messages: Any = Consumer._drain_messages
    pause_partitions: Any = Consumer.pause_partitions
    resume_partitions: Any = Consumer.resume_partitions
    on_buffer_full: Any = Consumer.on_buffer_full
    on_buffer_drop: Any = Consumer.on_buffer_drop
    _get_active_partitions: Any = Consumer._get_active_partitions
    _set_active_tps: Any = Consumer._set_active_tps

    def __init__(self, ends: dict[TP, int], batch: int, on_delivered: Any) -> None:
        from collections import defaultdict
        from types import SimpleNamespace

        from faust.transport.utils import DefaultSchedulingStrategy

        self.ends, self.batch, self.on_delivered = ends, batch, on_delivered
        self.position = dict.fromkeys(ends, 0)  # the driver's fetch position
        self.fetches: list[tuple[TP, int]] = []  # (partition, first offset) of each fetch
        self._active_partitions: set[TP] = set(ends)
        self._paused_partitions: set[TP] = set()
        self._buffered_partitions: set[TP] = set()
        self._read_offset: Any = defaultdict(lambda: None)
        self.gaps: list[tuple[TP, int, int]] = []
        self.delivered: list[Delivered] = []
        self._stopped = asyncio.Event()
        self.fetcher = SimpleNamespace(_stopped=asyncio.Event())
        self.suspend_flow = asyncio.Event()
        self.flow_active, self.should_stop, self._commit_every, self._n_acked = True, False, None, 0
        self.consumer_stopped_errors: tuple = ()
        self.scheduler = cast(Any, DefaultSchedulingStrategy)()  # abstract by its type only
        self.diag = SimpleNamespace(set_flag=lambda f: None, unset_flag=lambda f: None)
        self.log = SimpleNamespace(dev=lambda *a, **k: None, exception=lambda *a, **k: None)
        self.app = SimpleNamespace(
            consumer_generation_id=1,
            in_recovery=False,
            monitor=SimpleNamespace(track_tp_end_offset=lambda tp, hw: None),
            topics=SimpleNamespace(acks_enabled_for=lambda t: True),
        )
        self.transport = SimpleNamespace(app=SimpleNamespace(should_stop=False))

    async def callback(self, message: Delivered) -> None:
        self.delivered.append(message)
        await self.on_delivered(self, message)

    async def wait_first(self, first: Any, *others: Any) -> None:
        for other in others:
            other.close()
        await first

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)

    async def _wait_next_records(self, timeout: float) -> tuple[dict, set[TP]]:
        active = self._get_active_partitions()
        records = {}
        for tp in sorted(active):
            start, end = self.position[tp], min(self.ends[tp], self.position[tp] + self.batch)
            if start < end:
                records[tp] = [Fetched(o) for o in range(start, end)]
                self.position[tp] = end
                self.fetches.append((tp, start))
        if self.position == self.ends:
            self._stopped.set()  # everything fetched: the loop ends once this batch is handed over
        await asyncio.sleep(0)
        return records, active

    def _to_message(self, tp: TP, record: Fetched) -> Delivered:
        return Delivered(tp, record.offset)

    def highwater(self, tp: TP) -> int:
        return self.ends[tp]

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        self.gaps.append((tp, offset_from, offset_to))

    async def run(self) -> None:
        await asyncio.wait_for(self._drain_messages(self.fetcher), 10)

    def offsets(self, tp: TP) -> list[int]:
        return [d.offset for d in self.delivered if d.tp == tp]


A, B = TP("gx.commands", 0), TP("gx.commands", 1)


async def test_faust_drops_the_records_of_a_partition_paused_mid_batch_and_takes_the_hole_for_a_gap() -> None:
    """Why the submitter never calls pause_partitions: paused while its batch is handed over, the
    rest of partition A's batch is dropped, and once resumed the next record is taken as a gap
    (which Faust counts acked, so its commit would pass records never processed)."""

    async def scenario(c: Drain, d: Delivered) -> None:
        if d.tp == A and d.offset == 3:
            c.pause_partitions([A])  # as the agent would, its backlog full
        if d.tp == B and d.offset == 15:
            c.resume_partitions([A])

    c = Drain({A: 30, B: 30}, batch=10, on_delivered=scenario)
    await c.run()
    assert c.offsets(A) == [0, 1, 2, 3, *range(10, 30)]  # 4-9 never reach the streams
    assert c.gaps == [(A, 4, 10)]


async def test_a_partition_whose_fetch_stopped_mid_batch_gets_the_rest_of_it_then_nothing_until_started_again() -> None:
    """stop_fetching (Faust's on_buffer_full): the records of A already fetched are still handed
    over, A is fetched no more until fetch_again (on_buffer_drop), then from where it stopped; every
    record once, in order, no gap; B goes on meanwhile."""
    fetched_while_stopped: list[tuple[TP, int]] = []

    async def scenario(c: Drain, d: Delivered) -> None:
        if d.tp == A and d.offset in (3, 12, 25):
            stop_fetching(c, A)  # type: ignore[arg-type]
            c.stopped_at = len(c.fetches)  # type: ignore[attr-defined]
        if d.tp == B and A in c._buffered_partitions and d.offset % 7 == 0:
            fetched_while_stopped.extend(f for f in c.fetches[c.stopped_at :] if f[0] == A)  # type: ignore[attr-defined]
            fetch_again(c, A)  # type: ignore[arg-type]

    c = Drain({A: 30, B: 90}, batch=10, on_delivered=scenario)
    await c.run()
    assert c.offsets(A) == list(range(30)) and c.offsets(B) == list(range(90)) and c.gaps == []
    assert fetched_while_stopped == [] and not c._buffered_partitions
    assert [o for tp, o in c.fetches if tp == A] == [0, 10, 20]
