"""The submitter's steps that talk to its ports, one test each, against in-memory ports (no gRPC):
the Fabric calls of an attempt (Ledger), the attempt's steps (CommandProcessor) and publishing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from fabric_protos.common import common_pb2

from fabric_gateway import CommitError, CommitStatusError, EndorseError, ErrorDetail, Status, SubmitError
from fabric_gateway.client import Endorsed
from schemas.envelopes import CommandResult, ResultStatus
from streams.breaker import CircuitBreaker, State
from streams.outcome import RetryPolicy
from streams.submitter import Final, Record
from streams.submitter.answer import Answer
from streams.submitter.command import parse
from streams.submitter.gate import BreakerGate
from streams.submitter.ledger import Ledger
from streams.submitter.process import CommandProcessor
from streams.submitter.publish import Publisher
from streams.submitter.state import AttemptState, Found, Sent
from tests.unit.test_submitter import Clock, MemorySink, Recording, command

REC = Record("gx.commands", 0, 4, b"USR-1", command("CREATE_USER", 1, "r1"))


@dataclass
class StubGateway:
    """The Gateway port, scripted: each endorse answers the next of ``answers`` (bytes: the
    chaincode's result; an error: raised) as transaction tx1, tx2, ...; statuses by transaction."""

    answers: list[bytes | Exception] = field(default_factory=lambda: [b""])
    statuses: dict[str, Status | Exception] = field(default_factory=dict)
    submit_error: Exception | None = None
    calls: list[tuple[str, str, float | None]] = field(default_factory=list)  # (call, tx_id, timeout)

    async def endorse(self, channel: str, chaincode: str, function: str, args: Sequence[str | bytes] = ()) -> Endorsed:
        tx_id = f"tx{sum(c[0] == 'endorse' for c in self.calls) + 1}"
        self.calls.append(("endorse", tx_id, None))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return Endorsed(tx_id, channel, common_pb2.Envelope(), answer)

    async def submit(self, tx: Endorsed) -> None:
        self.calls.append(("submit", tx.tx_id, None))
        if self.submit_error is not None:
            raise self.submit_error

    async def commit_status(
        self, tx: Endorsed | str, channel: str | None = None, timeout: float | None = None
    ) -> Status:
        tx_id = tx if isinstance(tx, str) else tx.tx_id
        self.calls.append(("status", tx_id, timeout))
        status = self.statuses.get(tx_id, Status(tx_id, "VALID", 3))
        if isinstance(status, Exception):
            raise status
        return status


@dataclass
class Waiter:
    source: Commits
    tx_id: str

    def submitted(self) -> None:
        pass

    async def wait(self, timeout: float, resubmit: Any = None, resubmit_after: float = 20.0) -> Status:
        self.source.waited.append((self.tx_id, timeout))
        return Status(self.tx_id, "VALID", 40)

    def close(self) -> None:
        self.source.closed.append(self.tx_id)


@dataclass
class Commits:
    """The CommitSource port: every transaction expected is VALID in block 40."""

    expected: list[str] = field(default_factory=list)
    waited: list[tuple[str, float]] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)

    def expect(self, tx_id: str) -> Waiter:
        self.expected.append(tx_id)
        return Waiter(self, tx_id)


def status_error(code: grpc.StatusCode, tx_id: str) -> CommitStatusError:
    return CommitStatusError("injected", tx_id, code)


@dataclass
class Parts:
    gw: StubGateway
    hooks: Recording
    sink: MemorySink
    clock: Clock
    slept: list[float]
    ledger: Ledger
    gate: BreakerGate
    processor: CommandProcessor


def parts(
    gw: StubGateway | None = None,
    commits: Commits | None = None,
    breaker: CircuitBreaker | None = None,
    sink: MemorySink | None = None,
    progress: bool = False,
) -> Parts:
    gw, hooks, sink, clock, slept = gw or StubGateway(), Recording(), sink or MemorySink(), Clock(), []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds
        await asyncio.sleep(0)

    publisher = Publisher(sink, hooks, clock, sleep, lambda: 0.5, 10.0, 120.0, progress)
    ledger = Ledger(gw, "ch", "cc", hooks, publisher, commits, recheck_timeout=5.0, commit_timeout=60.0)
    gate = BreakerGate(breaker or CircuitBreaker(), clock, sleep)
    processor = CommandProcessor(ledger, gate, hooks, RetryPolicy(max_attempts=3), clock, sleep, lambda: 0.5)
    return Parts(gw, hooks, sink, clock, slept, ledger, gate, processor)


def state() -> AttemptState:
    s = AttemptState(parse(REC, datetime.now(UTC)))
    s.begin()
    return s


# Ledger: the Fabric calls of an attempt.


async def test_a_new_transaction_is_endorsed_submitted_and_its_commit_status_read() -> None:
    p, s = parts(), state()
    found = await p.ledger.find(s)
    assert found == Found(Status("tx1", "VALID", 3), Answer("tx1"))
    assert p.gw.calls == [("endorse", "tx1", None), ("submit", "tx1", None), ("status", "tx1", None)]
    assert s.sent == [Sent("tx1", Answer("tx1"))] and not s.unsure and s.submitted_at is not None
    assert p.hooks.sends == 1


async def test_with_a_commit_source_the_transaction_is_expected_before_it_is_sent_and_waited_on() -> None:
    commits = Commits()
    p, s = parts(commits=commits), state()
    found = await p.ledger.find(s)
    assert found.status == Status("tx1", "VALID", 40)
    assert (commits.expected, commits.waited, commits.closed) == (["tx1"], [("tx1", 60.0)], ["tx1"])
    assert [c[0] for c in p.gw.calls] == ["endorse", "submit"]  # no CommitStatus call


async def test_a_request_applied_by_an_earlier_transaction_is_found_and_nothing_is_sent() -> None:
    p, s = parts(StubGateway([b'{"txId": "tx0", "rejected": {"code": "FROZEN"}}'])), state()
    found = await p.ledger.find(s)
    assert found == Found(Status("tx0", "VALID", 3), Answer("tx0", "FROZEN"))
    assert p.gw.calls == [("endorse", "tx1", None), ("status", "tx0", 5.0)]
    assert s.sent == [] and p.hooks.sends == 0


async def test_a_transaction_committed_invalid_is_raised_and_forgotten() -> None:
    p, s = parts(StubGateway(statuses={"tx1": Status("tx1", "MVCC_READ_CONFLICT", 8)})), state()
    with pytest.raises(CommitError) as e:
        await p.ledger.find(s)
    assert (e.value.tx_id, e.value.validation_code, e.value.block) == ("tx1", "MVCC_READ_CONFLICT", 8)
    assert s.sent == [] and not s.unsure


async def test_a_send_that_failed_leaves_its_transaction_in_doubt() -> None:
    commits = Commits()
    gw = StubGateway(submit_error=SubmitError("lost", "tx1", grpc.StatusCode.DEADLINE_EXCEEDED))
    p, s = parts(gw, commits), state()
    with pytest.raises(SubmitError):
        await p.ledger.find(s)
    assert s.unsure and [x.tx_id for x in s.sent] == ["tx1"] and commits.closed == ["tx1"]
    assert s.submitted_at is None and p.hooks.sends == 0


async def test_a_transaction_in_doubt_is_asked_for_newest_first_before_anything_is_endorsed() -> None:
    gw = StubGateway(statuses={"tx2": status_error(grpc.StatusCode.DEADLINE_EXCEEDED, "tx2")})
    p, s = parts(gw), state()
    s.sending("tx1", Answer("tx1"))
    s.sending("tx2", Answer("tx2"))
    found = await p.ledger.find(s)
    assert found == Found(Status("tx1", "VALID", 3), Answer("tx1"))
    assert gw.calls == [("status", "tx2", 5.0), ("status", "tx1", 5.0)]  # a timeout counts as not committed
    assert not s.unsure


async def test_a_recheck_that_cannot_reach_fabric_raises_and_stays_in_doubt() -> None:
    gw = StubGateway(statuses={"tx1": status_error(grpc.StatusCode.UNAVAILABLE, "tx1")})
    p, s = parts(gw), state()
    s.sending("tx1", Answer("tx1"))
    with pytest.raises(CommitStatusError):
        await p.ledger.recheck(s)
    assert s.unsure
    assert await p.ledger.committed_among(s, quiet=True) is None  # quiet: asked before a failure
    assert [x.tx_id for x in s.sent] == ["tx1"]


async def test_transactions_found_invalid_on_a_recheck_are_dropped_and_a_new_one_is_sent() -> None:
    gw = StubGateway(statuses={"tx0": Status("tx0", "MVCC_READ_CONFLICT", 2)})
    p, s = parts(gw), state()
    s.sending("tx0", Answer("tx0"))
    found = await p.ledger.find(s)
    assert found.status.tx_id == "tx1" and [x.tx_id for x in s.sent] == ["tx1"]


# BreakerGate and CommandProcessor: the steps of an attempt.


async def test_the_gate_waits_out_an_open_breaker_then_admits_one_probe_whose_slot_a_release_returns() -> None:
    p = parts(breaker=CircuitBreaker(failure_threshold=1, first_probe_delay=3, max_probe_delay=3, rand=lambda: 0.5))
    await p.gate.failure()
    assert p.gate.open
    await p.gate.acquire()
    assert p.slept == [1.0, 1.0, 1.0] and p.gate.breaker.state is State.HALF_OPEN
    assert not p.gate.breaker.allow(p.clock.now)  # its one probe slot is taken
    p.gate.release()
    assert p.gate.breaker.allow(p.clock.now)


async def test_a_probe_first_waits_for_the_channel_and_one_not_connected_fails_without_an_endorsement() -> None:
    """Issue 30: a probe is cheap. Half-open, the gate first waits (at most probe_wait) for the
    gateway's channel; not connected, the probe has failed (the breaker opens again) and nothing was
    endorsed; connected, the probe goes on as one attempt."""
    waits: list[float] = []
    connected = [False, True]

    async def ready(timeout: float) -> bool:
        waits.append(timeout)
        return connected.pop(0)

    breaker = CircuitBreaker(failure_threshold=1, first_probe_delay=1, max_probe_delay=4, rand=lambda: 0.5)
    p = parts(breaker=breaker)
    p.gate.ready, p.gate.probe_wait = ready, 1.5
    await p.gate.failure()
    await p.gate.acquire()
    assert waits == [1.5, 1.5] and p.gate.unready_probes == 1
    assert p.slept == [1.0, 1.0, 1.0] and breaker.state is State.HALF_OPEN  # 1 s, then 2 s after the failed probe
    assert p.gw.calls == []  # acquire never endorses; the failed probe made no attempt


async def test_a_probe_that_ends_in_a_recorded_rejection_or_a_refusal_counts_as_fabric_answering() -> None:
    """A business rejection (recorded in a committed transaction) and a refusal the chaincode throws
    are Fabric answering: they close a half-open breaker, never open it."""
    rejected = b'{"rejected": {"code": "INSUFFICIENT_FUNDS", "message": "has 1, needs 5"}}'
    refused = EndorseError("no", "tx", grpc.StatusCode.ABORTED, (ErrorDetail("p", "m", FORBIDDEN),))
    breaker = CircuitBreaker(failure_threshold=1, first_probe_delay=1, max_probe_delay=1, rand=lambda: 0.5)
    p, s = parts(StubGateway([rejected, refused]), breaker=breaker), state()
    await p.gate.failure()
    s.attempt = s.charged = 0
    final = await p.processor.attempt(s)  # the probe: its transaction recorded a rejection
    assert final is not None and final.result.errorCode == "CHAINCODE_REJECTED"
    assert breaker.state is State.HALF_OPEN  # one success of the two it needs
    assert await p.processor.attempt(state()) is None  # the second probe: refused, retried later
    assert breaker.state is State.CLOSED and p.hooks.failures[-1] == (refused, False)


def test_an_invalid_record_is_admitted_as_its_rejected_result() -> None:
    p = parts()
    bad = Record("gx.commands", 0, 1, b"k", b"not json")
    out = p.processor.admit(bad)
    assert isinstance(out, Final) and out.dead_letter
    assert (out.result.status, out.result.errorCode, out.result.attempts) == (
        ResultStatus.REJECTED,
        "INVALID_ENVELOPE",
        0,
    )
    assert not isinstance(p.processor.admit(REC), Final)


async def test_an_attempt_that_commits_is_confirmed_and_counted() -> None:
    p, s = parts(), state()
    s.attempt = s.charged = 0
    final = await p.processor.attempt(s)
    assert final is not None and (final.result.status, final.result.fabricTxId, final.result.attempts) == (
        ResultStatus.CONFIRMED,
        "tx1",
        1,
    )
    assert [(a.attempt, a.outcome, a.txId) for a in s.log] == [(1, "COMMITTED", "tx1")]
    assert p.hooks.commits == [0.0] and p.gate.breaker.state is State.CLOSED


async def test_an_outage_is_retried_after_its_backoff_and_counted_by_the_breaker() -> None:
    err = EndorseError("down", "tx1", grpc.StatusCode.UNAVAILABLE)
    p, s = parts(StubGateway([err, b""])), state()
    s.attempt = s.charged = 0
    assert await p.processor.attempt(s) is None
    assert p.slept == [RetryPolicy().delay(1, 0.5)] and s.last_error is err
    assert p.hooks.failures == [(err, True)] and (s.attempt, s.charged) == (1, 1)
    assert [(a.outcome, a.code) for a in s.log] == [("RETRYABLE", "UNAVAILABLE")]
    final = await p.processor.attempt(s)
    assert final is not None and (final.result.status, final.result.attempts) == (ResultStatus.CONFIRMED, 2)


async def test_an_attempt_that_opens_the_breaker_is_not_charged() -> None:
    err = EndorseError("down", "tx1", grpc.StatusCode.UNAVAILABLE)
    p, s = parts(StubGateway([err]), breaker=CircuitBreaker(failure_threshold=1)), state()
    assert await p.processor.failed(s, err) is None
    assert p.gate.open and (s.attempt, s.charged) == (1, 0)


async def test_one_gateway_peers_failure_that_moved_the_client_does_not_count_for_the_breaker() -> None:
    """The HA review: a submit UNAVAILABLE on a dying gateway peer (the client moved to the other
    one: ``failed_over``) counted as Fabric's outage, and five of them opened the breaker while
    the other peer was healthy. Only what every endpoint failed counts."""
    err = SubmitError("connection reset", "tx1", grpc.StatusCode.UNAVAILABLE)
    err.failed_over = True
    p, s = parts(StubGateway([err]), breaker=CircuitBreaker(failure_threshold=1)), state()
    await p.gate.acquire()
    assert await p.processor.failed(s, err) is None  # retried
    assert not p.gate.open
    plain = SubmitError("connection reset", "tx2", grpc.StatusCode.UNAVAILABLE)  # one endpoint: Fabric's
    await p.gate.acquire()
    assert await p.processor.failed(state(), plain) is None
    assert p.gate.open


async def test_an_idempotency_conflict_fails_at_once_without_asking_for_earlier_transactions() -> None:
    """The requestId is recorded for another command: the ledger's record answers it for ever."""
    message = "chaincode response 500, IDEMPOTENCY_CONFLICT: request r1 of tenant t was already used for X"
    err = EndorseError("failed to endorse", "tx2", grpc.StatusCode.ABORTED, (ErrorDetail("peer0", "Org1MSP", message),))
    p, s = parts(), state()
    s.sending("tx1", Answer("tx1"))
    final = await p.processor.failed(s, err)
    assert final is not None and not final.dead_letter
    assert (final.result.status, final.result.errorCode, final.result.error) == (
        ResultStatus.FAILED,
        "IDEMPOTENCY_CONFLICT",
        message,
    )
    assert p.gw.calls == [] and p.hooks.failures == [(err, False)] and p.slept == []


FORBIDDEN = "chaincode response 500, FORBIDDEN: Org1MSP identity x::CN=User2 may not submit commands"


async def test_a_refusal_the_chaincode_did_not_record_is_retried_then_dead_lettered_as_chaincode_refused() -> None:
    """Issue 30, defect 3: FORBIDDEN (a grant missing or rotated) is thrown, recorded nowhere: a
    fault of the deployment, not the ledger's answer. Retried with backoff (charged, not counted
    by the breaker), then FAILED as CHAINCODE_REFUSED with the chaincode's words and dead-lettered,
    so that a replay brings it through once the grant is fixed. It used to end FAILED as
    CHAINCODE_REJECTED after one attempt, with no dead letter."""
    err = EndorseError(
        "failed to endorse", "tx", grpc.StatusCode.ABORTED, (ErrorDetail("peer0", "Org1MSP", FORBIDDEN),)
    )
    p = parts(StubGateway([err]))
    final = await p.processor.settle(REC)
    assert final.dead_letter
    assert (final.result.status, final.result.errorCode, final.result.error, final.result.attempts) == (
        ResultStatus.FAILED,
        "CHAINCODE_REFUSED",
        FORBIDDEN,
        3,
    )
    assert [a.outcome for a in final.result.attemptLog] == ["CHAINCODE_REFUSED"] * 3
    assert p.slept == [RetryPolicy().delay(n, 0.5) for n in (1, 2)]  # the policy's backoff
    assert [counted for _, counted in p.hooks.failures] == [False] * 3 and p.gate.breaker.state is State.CLOSED


async def test_a_failure_is_reported_confirmed_when_a_transaction_sent_earlier_committed() -> None:
    err = EndorseError("down", "tx2", grpc.StatusCode.UNAVAILABLE)
    p, s = parts(breaker=CircuitBreaker(failure_threshold=100)), state()
    s.sending("tx1", Answer("tx1"))
    s.charged = 3  # the policy's last attempt
    final = await p.processor.failed(s, err)
    assert final is not None and not final.dead_letter
    assert (final.result.status, final.result.fabricTxId, final.result.commitBlock) == (
        ResultStatus.CONFIRMED,
        "tx1",
        3,
    )
    assert [(a.outcome, a.txId) for a in s.log] == [("RETRYABLE", "tx2"), ("COMMITTED", "tx1")]


async def test_running_out_of_attempts_fails_and_dead_letters_when_nothing_committed() -> None:
    err = EndorseError("down", "tx2", grpc.StatusCode.UNAVAILABLE)
    gw = StubGateway(statuses={"tx1": status_error(grpc.StatusCode.UNAVAILABLE, "tx1")})
    p, s = parts(gw, breaker=CircuitBreaker(failure_threshold=100)), state()
    s.sending("tx1", Answer("tx1"))
    s.charged = 3
    final = await p.processor.failed(s, err)
    assert final is not None and final.dead_letter
    assert (final.result.status, final.result.errorCode, final.result.fabricTxId) == (
        ResultStatus.FAILED,
        "RETRIES_EXHAUSTED",
        "tx2",
    )


async def test_an_attempt_failing_outside_fabric_gives_its_probe_slot_back_and_raises() -> None:
    breaker = CircuitBreaker(failure_threshold=1, first_probe_delay=10, max_probe_delay=10, rand=lambda: 0.5)
    breaker.record_failure(0.0)
    p, s = parts(StubGateway([KeyError("bug")]), breaker=breaker), state()
    p.clock.now = 11  # half-open: one probe slot
    with pytest.raises(KeyError):
        await p.processor.attempt(s)
    assert breaker.state is State.HALF_OPEN and breaker.allow(p.clock.now)  # the slot is free again


async def test_internal_errors_are_retried_then_the_command_fails_as_internal_error() -> None:
    p = parts(StubGateway([KeyError("bug")]))
    final = await p.processor.settle(REC)
    assert (final.result.status, final.result.errorCode, final.result.attempts, final.dead_letter) == (
        ResultStatus.FAILED,
        "INTERNAL_ERROR",
        3,
        True,
    )
    assert p.processor.internal_errors == 3 and p.slept == [RetryPolicy().delay(n, 0.5) for n in (1, 2)]


# Publisher: results out.


class FailingSink(MemorySink):
    def __init__(self, times: int) -> None:
        super().__init__()
        self.times = times

    async def result(self, key: bytes, result: CommandResult) -> None:
        if self.times > 0:
            self.times -= 1
            raise RuntimeError("results topic unavailable")
        await super().result(key, result)


async def test_a_final_result_is_published_after_its_dead_letter_retrying_until_it_is_out() -> None:
    sink = FailingSink(times=2)
    p = parts(sink=sink)
    final = Final(
        CommandResult(
            commandId="c",
            requestId="q",
            tenantId="t",
            key="k",
            status=ResultStatus.FAILED,
            error="why",
            errorCode="E",
            attempts=2,
        ),
        True,
    )
    await p.processor.ledger.publisher.final(REC, final)
    assert sink.dead == [(4, "E", "why")] and [x.requestId for x in sink.results] == ["q"]
    assert p.slept == [0.25 * 2 * 0.75, 0.25 * 4 * 0.75] and p.ledger.publisher.failures == 2
    assert p.ledger.publisher.stalled() == 0 and p.hooks.fatals == []


async def test_a_final_result_unpublished_past_the_deadline_is_fatal() -> None:
    sink = FailingSink(times=1000)
    p = parts(sink=sink)
    final = Final(CommandResult(commandId="c", requestId="q", tenantId="t", key="k", status=ResultStatus.CONFIRMED))
    task = asyncio.create_task(p.ledger.publisher.final(REC, final))
    while not p.hooks.fatals:
        await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert p.clock.now >= 120 and "unavailable" in str(p.hooks.fatals[0])
    assert p.ledger.publisher.stalled() == p.clock.now  # since the first failure, at 0


async def test_progress_results_are_published_only_when_asked_and_never_raise() -> None:
    quiet, loud, broken = parts(), parts(progress=True), parts(sink=FailingSink(times=1), progress=True)
    for p in (quiet, loud, broken):
        s = state()
        s.submitted_at = datetime.now(UTC)
        await p.ledger.publisher.progress(s, "tx1")
    assert quiet.sink.results == [] and broken.sink.results == []
    assert [(x.status, x.fabricTxId) for x in loud.sink.results] == [(ResultStatus.SUBMITTED, "tx1")]


# Issue 30, defect 1: a transaction of the command found committed reports what it recorded.

REJECTION = "INSUFFICIENT_FUNDS: insufficient balance in wallet w1: has 10, needs 11"


async def test_a_transaction_in_doubt_found_committed_reports_the_rejection_it_recorded() -> None:
    """tx1's Submit answer was lost; the next attempt finds tx1 VALID. tx1's endorsement carried
    the chaincode's recorded rejection: the command ends FAILED with it, not CONFIRMED."""
    p, s = parts(), state()
    s.attempt = s.charged = 1
    s.sending("tx1", Answer("tx1", REJECTION))
    found = await p.ledger.find(s)
    assert found == Found(Status("tx1", "VALID", 3), Answer("tx1", REJECTION))
    final = await p.processor.succeeded(s, found, 0.0)
    assert (final.result.status, final.result.errorCode, final.result.error, final.result.fabricTxId) == (
        ResultStatus.FAILED,
        "CHAINCODE_REJECTED",
        REJECTION,
        "tx1",
    )
    assert p.gw.calls == [("status", "tx1", 5.0)]  # nothing endorsed again


async def test_the_late_check_before_failed_reports_the_rejection_a_committed_transaction_recorded() -> None:
    err = EndorseError("down", "tx2", grpc.StatusCode.UNAVAILABLE)
    p, s = parts(breaker=CircuitBreaker(failure_threshold=100)), state()
    s.sending("tx1", Answer("tx1", REJECTION))
    s.charged = 3  # the policy's last attempt
    final = await p.processor.failed(s, err)
    assert final is not None and not final.dead_letter
    assert (final.result.status, final.result.errorCode, final.result.error, final.result.fabricTxId) == (
        ResultStatus.FAILED,
        "CHAINCODE_REJECTED",
        REJECTION,
        "tx1",
    )
    assert [(a.outcome, a.txId) for a in s.log] == [("RETRYABLE", "tx2"), ("COMMITTED", "tx1")]
