"""The submitter's Faust edge: records read from messages, acks in offset order, the agent's hooks,
and the one private Faust call (Consumer._commit), whose shape these tests pin."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
from faust.transport.consumer import Consumer, ThreadDelegateConsumer
from faust.transport.drivers import aiokafka as driver
from faust.types import TP
from faust.types.tuples import ConsumerMessage
from prometheus_client import REGISTRY

from fabric_gateway import EndorseError, ErrorDetail
from streams.submitter import Record
from streams.submitter.faust_io import FaustSink, commit_exactly, record_of
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
    room, fatal = asyncio.Event(), list[BaseException]()
    hooks = PartitionHooks({}, room, fatal.append)
    hooks.room()
    assert room.is_set()

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
    hooks = PartitionHooks({}, asyncio.Event(), lambda e: None, refusals=refusals)

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
