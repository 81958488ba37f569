"""The submitter's core under faults that once lost or misreported commands (one test per defect)."""

from __future__ import annotations

import asyncio
import json
from typing import cast

import grpc
import pytest

from fabric_gateway import Gateway
from schemas.envelopes import ResultStatus
from streams.breaker import CircuitBreaker, State
from streams.submitter import Record
from tests.unit.fake_gateway import Script
from tests.unit.test_submitter import Clock, MemorySink, Recording, command, feed, submitter
from tests.waiting import wait_until_async


class FlakySink(MemorySink):
    """Fails to publish results of the given statuses (the results topic unreachable)."""

    def __init__(self, failing: set[ResultStatus]) -> None:
        super().__init__()
        self.failing = failing

    async def result(self, key, result) -> None:
        if result.status in self.failing:
            raise RuntimeError(f"cannot publish {result.status.value}")
        await super().result(key, result)


async def test_a_lost_submitted_result_does_not_lose_the_command(env) -> None:
    _fake, gw = env
    sink, clock = FlakySink({ResultStatus.SUBMITTED}), Clock()
    hooks = Recording()
    sub = submitter(gw, sink, clock, hooks=hooks, progress=True)
    await feed(sub, [command("CREATE_USER", i, f"r{i}") for i in range(3)])
    assert {r.status for r in sink.final().values()} == {ResultStatus.CONFIRMED}
    assert sorted(hooks.finished) == [0, 1, 2] and sub.internal_errors == 0


class FailingSink(MemorySink):
    """Fails to publish final results ``times`` times (the results topic unreachable), then works."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.times = times

    async def result(self, key, result) -> None:
        if result.status.final and self.times > 0:
            self.times -= 1
            raise RuntimeError("KafkaTimeoutError: the results topic is unavailable")
        await super().result(key, result)


async def test_a_final_result_that_cannot_be_published_keeps_its_slot_and_goes_out_later(env) -> None:
    """Issue 20, item 5: before, an unpublishable result left its record unacked for good (its
    key, then its partition, then every partition stalled); now it is retried with backoff."""
    fake, gw = env
    sink, clock = FailingSink(times=12), Clock()
    hooks = Recording()
    sub = submitter(gw, sink, clock, hooks=hooks)
    for i in range(3):
        sub.offer(Record("gx.commands", 0, i, f"k{i}".encode(), command("CREATE_USER", i, f"r{i}")))
    await asyncio.wait_for(sub.drain(), 10)
    assert sorted(hooks.finished) == [0, 1, 2] and hooks.committables[-1] == 3
    assert {r.status for r in sink.final().values()} == {ResultStatus.CONFIRMED}
    assert sub.publish_failures == 12 and sub.stalled() == 0
    assert len(fake.calls) == 3  # publishing was retried, not the command


async def test_a_worker_that_cannot_publish_for_the_deadline_says_it_cannot_go_on(env) -> None:
    _fake, gw = env
    sink, clock = FailingSink(times=10**6), Clock()
    hooks = Recording()
    sub = submitter(gw, sink, clock, hooks=hooks, publish_deadline=120)
    sub.offer(Record("gx.commands", 0, 0, b"k0", command("CREATE_USER", 0, "r0")))
    # Real time: the gateway calls are real gRPC (the fake clock only moves with the backoff).
    await wait_until_async(lambda: hooks.fatals, "the worker to give up publishing", timeout=20)
    assert "unavailable" in str(hooks.fatals[0])
    assert clock.now >= 120 and sub.committable() is None  # nothing committed past it
    await sub.close()


class Exploding:
    """A gateway whose endorse raises an unexpected error (a bug) ``times`` times."""

    def __init__(self, gw, times: int) -> None:
        self.gw, self.times = gw, times

    async def endorse(self, *a, **kw):
        if self.times > 0:
            self.times -= 1
            raise KeyError("unexpected")
        return await self.gw.endorse(*a, **kw)

    def __getattr__(self, name):
        return getattr(self.gw, name)


async def test_an_internal_error_is_retried_and_then_dead_lettered_never_left_unacked(env) -> None:
    _fake, gw = env
    sink, clock = MemorySink(), Clock()
    sub = submitter(cast(Gateway, Exploding(gw, 2)), sink, clock)  # a Gateway whose endorse raises
    await feed(sub, [command("CREATE_USER", 0, "r0")])
    assert sink.final()["r0"].status is ResultStatus.CONFIRMED and sub.internal_errors == 2
    sink2 = MemorySink()
    sub2 = submitter(cast(Gateway, Exploding(gw, 100)), sink2, clock)
    await feed(sub2, [command("CREATE_USER", 1, "r1")])
    r = sink2.final()["r1"]
    assert (r.status, r.errorCode) == (ResultStatus.FAILED, "INTERNAL_ERROR") and "KeyError" in (r.error or "")
    assert sink2.dead == [(0, "INTERNAL_ERROR", r.error)] and sub2.committable() == 1


async def test_a_half_open_breaker_is_released_by_a_refused_request(env) -> None:
    fake, gw = env
    fake.scripts["IdentityContract:CreateUser"] = Script(fail_times=1, fail_code=grpc.StatusCode.INVALID_ARGUMENT)
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, first_probe_delay=10, max_probe_delay=10, rand=lambda: 0.5)
    breaker.record_failure(0.0)  # open
    clock.now = 11  # probes allowed: half-open with one slot
    sink = MemorySink()
    sub = submitter(gw, sink, clock, capacity=5, breaker=breaker)
    await feed(sub, [command("CREATE_USER", i, f"r{i}") for i in range(4)])
    final = sink.final()
    assert final["r0"].status is ResultStatus.CONFIRMED and final["r0"].attemptLog[0].code == "INVALID_ARGUMENT"
    assert [final[f"r{i}"].status for i in (1, 2, 3)] == [ResultStatus.CONFIRMED] * 3
    assert breaker.state is State.CLOSED


@pytest.mark.parametrize(
    "code,details",
    [
        (grpc.StatusCode.ABORTED, ("rpc error: code = Unavailable desc = connection error",)),
        (grpc.StatusCode.PERMISSION_DENIED, ()),
        (grpc.StatusCode.NOT_FOUND, ()),
        (grpc.StatusCode.CANCELLED, ()),
    ],
)
async def test_infrastructure_errors_are_retried_and_counted_by_the_breaker(env, code, details) -> None:
    """Issue 20, item 7: before, each of these FAILED the command at once (dead-lettered)."""
    fake, gw = env
    fake.scripts["IdentityContract:CreateUser"] = Script(fail_times=2, fail_code=code, fail_details=details)
    hooks = Recording()
    sink, clock = MemorySink(), Clock()
    sub = submitter(gw, sink, clock, breaker=CircuitBreaker(failure_threshold=10), hooks=hooks)
    await feed(sub, [command("CREATE_USER", 0, "r0")])
    r = sink.final()["r0"]
    assert (r.status, r.attempts) == (ResultStatus.CONFIRMED, 3) and sink.dead == []
    assert [counted for _, counted in hooks.failures] == [True, True]


async def test_a_transaction_whose_submit_answer_was_lost_is_confirmed_not_sent_again(env) -> None:
    """Issue 20, item 3: Submit timed out but the transaction reached the orderer. Before, a new
    transaction was endorsed at once; with the gateway refusing it until attempts ran out, the
    command ended FAILED (RETRIES_EXHAUSTED) although the ledger had applied it."""
    fake, gw = env
    fake.scripts["IdentityContract:CreateUser"] = Script(
        submit_fail_times=1, submit_fail_code=grpc.StatusCode.DEADLINE_EXCEEDED
    )
    sink, clock = MemorySink(), Clock()
    sub = submitter(gw, sink, clock, breaker=CircuitBreaker(failure_threshold=100))
    await feed(sub, [command("CREATE_USER", 0, "r0")])
    r = sink.final()["r0"]
    assert r.status is ResultStatus.CONFIRMED and r.fabricTxId == fake.submitted[0]
    assert len(fake.calls) == 1, "a second transaction was endorsed"
    assert fake.status_calls == [r.fabricTxId]


async def test_a_sent_transaction_that_committed_wins_over_running_out_of_attempts(env) -> None:
    fake, gw = env
    # The first submit's answer is lost; then the transaction's status cannot be read in time,
    # and every new endorsement is refused until the attempts run out.
    fake.scripts["IdentityContract:CreateUser"] = Script(submit_fail_times=1, status_fail_times=1)
    sink, clock = MemorySink(), Clock()
    sub = submitter(gw, sink, clock, breaker=CircuitBreaker(failure_threshold=100))
    orig = gw.endorse
    calls = {"n": 0}

    async def endorse(*a, **kw):
        calls["n"] += 1
        if calls["n"] > 1:
            from fabric_gateway import EndorseError

            raise EndorseError("injected", "tx", grpc.StatusCode.UNAVAILABLE)
        return await orig(*a, **kw)

    gw.endorse = endorse
    try:
        await feed(sub, [command("CREATE_USER", 0, "r0")])
    finally:
        gw.endorse = orig
    r = sink.final()["r0"]
    assert r.status is ResultStatus.CONFIRMED and r.fabricTxId == fake.submitted[0], r
    assert sink.dead == []


async def test_a_recorded_rejection_is_the_final_answer_every_time(env) -> None:
    """Issue 20, item 4 (with the chaincode of issue 21): the chaincode records a rejection in a
    committed transaction and answers a replay with it; both runs end FAILED alike."""
    fake, gw = env
    fake.scripts["TokenomicsContract:TransferTokens"] = Script(
        result=json.dumps(
            {"requestId": "r0", "rejected": {"code": "INSUFFICIENT_FUNDS", "message": "wallet a has 1, needs 5"}}
        ).encode()
    )
    sink, clock = MemorySink(), Clock()
    sub = submitter(gw, sink, clock)
    payload = {"fromWalletId": "a", "toWalletId": "b", "amount": 5}
    await feed(sub, [command("TRANSFER_TOKENS", 0, "r0", payload)])
    first = sink.final()["r0"]
    assert (first.status, first.errorCode) == (ResultStatus.FAILED, "CHAINCODE_REJECTED")
    assert first.error == "INSUFFICIENT_FUNDS: wallet a has 1, needs 5" and first.fabricTxId and first.commitBlock
    # The replay: the chaincode answers with the recorded result of the first transaction.
    fake.scripts["TokenomicsContract:TransferTokens"] = Script(
        result=json.dumps(
            {
                "requestId": "r0",
                "txId": first.fabricTxId,
                "rejected": {"code": "INSUFFICIENT_FUNDS", "message": "wallet a has 1, needs 5"},
            }
        ).encode()
    )
    sink2 = MemorySink()
    sub2 = submitter(gw, sink2, clock)
    await feed(sub2, [command("TRANSFER_TOKENS", 0, "r0", payload)])
    again = sink2.final()["r0"]
    assert (again.status, again.errorCode, again.error, again.fabricTxId) == (
        first.status,
        first.errorCode,
        first.error,
        first.fabricTxId,
    )
    assert len(fake.submitted) == 1  # the replay sent nothing


async def test_after_a_commit_status_error_the_same_transaction_is_asked_again(env) -> None:
    fake, gw = env
    fake.scripts["IdentityContract:CreateUser"] = Script(status_fail_times=1)
    sink, clock = MemorySink(), Clock()
    sub = submitter(gw, sink, clock, capacity=1)
    await feed(sub, [command("CREATE_USER", 1, "r1")])
    r = sink.final()["r1"]
    assert (r.status, r.attempts) == (ResultStatus.CONFIRMED, 2)
    assert len(fake.calls) == 1, "a second transaction was endorsed"
    assert fake.status_calls == [r.fabricTxId, r.fabricTxId]
    assert [(a.outcome, a.errorClass, a.code) for a in r.attemptLog] == [
        ("RETRYABLE", "CommitStatusError", "DEADLINE_EXCEEDED"),
        ("COMMITTED", None, None),
    ]


async def test_a_replayed_request_id_is_confirmed_with_the_transaction_that_applied_it(env) -> None:
    fake, gw = env
    # The chaincode answers an applied requestId with its first result, which names the first tx.
    fake.scripts["IdentityContract:CreateUser"] = Script(result=json.dumps({"txId": "first-tx"}).encode())
    fake.tx_functions["first-tx"] = "AdminContract:Other"
    fake.scripts["AdminContract:Other"] = Script()
    sink, clock = MemorySink(), Clock()
    sub = submitter(gw, sink, clock)
    await feed(sub, [command("CREATE_USER", 1, "r1")])
    r = sink.final()["r1"]
    assert r.status is ResultStatus.CONFIRMED and r.fabricTxId == "first-tx"
    assert r.attemptLog[-1].txId == "first-tx" and fake.submitted == []  # nothing was sent again


async def test_a_full_window_waits_in_the_backlog_and_signals_room(env) -> None:
    fake, gw = env
    fake.scripts["IdentityContract:CreateUser"] = Script(delay=0.05)
    sink, clock = MemorySink(), Clock()
    hooks = Recording()
    sub = submitter(gw, sink, clock, capacity=2, hooks=hooks)
    admitted = [
        sub.offer(Record("gx.commands", 0, i, f"k{i}".encode(), command("CREATE_USER", i, f"r{i}"))) for i in range(5)
    ]
    assert admitted == [True, True, False, False, False]
    await asyncio.wait_for(sub.drain(), 10)
    assert len(sink.final()) == 5 and sub.committable() == 5
    assert hooks.rooms and sub.backlog == 0  # room was signalled as the backlog was admitted


async def test_close_cancels_commands_in_flight_without_acking_them(env) -> None:
    fake, gw = env
    fake.scripts["IdentityContract:CreateUser"] = Script(delay=5)
    sink, clock = MemorySink(), Clock()
    hooks = Recording()
    sub = submitter(gw, sink, clock, hooks=hooks)
    for i in range(3):
        sub.offer(Record("gx.commands", 0, i, f"k{i}".encode(), command("CREATE_USER", i, f"r{i}")))
    await wait_until_async(lambda: len(fake.calls), "3 endorsements in flight", until=lambda n: n == 3, timeout=5)
    await asyncio.wait_for(sub.close(), 5)
    assert hooks.finished == [] and sink.final() == {} and sub.committable() is None


async def test_mvcc_conflicts_are_retried_but_never_open_the_breaker(env) -> None:
    fake, gw = env
    fake.scripts["IdentityContract:CreateUser"] = Script(validation="MVCC_READ_CONFLICT")
    sink, clock = MemorySink(), Clock()
    sub = submitter(gw, sink, clock, capacity=10, breaker=CircuitBreaker(failure_threshold=2))
    await feed(sub, [command("CREATE_USER", i, f"r{i}") for i in range(6)])
    assert {(r.status, r.errorCode, r.attempts) for r in sink.final().values()} == {
        (ResultStatus.FAILED, "RETRIES_EXHAUSTED", 30)
    }  # the 30th conflict ends it, apart from the 5 attempts
    assert sub.breaker.state is State.CLOSED
