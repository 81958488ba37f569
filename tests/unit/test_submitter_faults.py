"""The submitter's core under faults that once lost or misreported commands (one test per defect)."""

from __future__ import annotations

import asyncio
import json

import grpc

from schemas.envelopes import ResultStatus
from streams.breaker import CircuitBreaker, State
from streams.submitter import Record
from tests.unit.fake_gateway import Script
from tests.unit.test_submitter import Clock, MemorySink, command, feed, submitter


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
    fake, gw = env
    sink, clock = FlakySink({ResultStatus.SUBMITTED}), Clock()
    done: list[int] = []
    sub = submitter(gw, sink, clock, on_done=lambda r: done.append(r.offset))
    await feed(sub, [command("CREATE_USER", i, f"r{i}") for i in range(3)])
    assert {r.status for r in sink.final().values()} == {ResultStatus.CONFIRMED}
    assert sorted(done) == [0, 1, 2] and sub.internal_errors == 0


async def test_a_final_result_that_cannot_be_published_is_never_acked(env) -> None:
    fake, gw = env
    sink, clock = FlakySink({ResultStatus.CONFIRMED}), Clock()
    done: list[int] = []
    sub = submitter(gw, sink, clock, on_done=lambda r: done.append(r.offset))
    loop = asyncio.get_running_loop()
    unretrieved: list[dict] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, ctx: unretrieved.append(ctx))
    try:
        for i in range(3):
            sub.offer(Record("gx.commands", 0, i, f"k{i}".encode(), command("CREATE_USER", i, f"r{i}")))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if sub.internal_errors == 3:
                break
    finally:
        loop.set_exception_handler(previous)
    assert sub.internal_errors == 3
    assert done == [] and sub.committable() is None  # the offset never moves past them
    assert unretrieved == []  # every task's exception was handled


async def test_a_half_open_breaker_is_released_by_a_permanent_error_that_is_not_a_rejection(env) -> None:
    fake, gw = env
    fake.scripts["IdentityContract:CreateUser"] = Script(fail_times=1, fail_code=grpc.StatusCode.PERMISSION_DENIED)
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=10)
    breaker.record_failure(0.0)  # open
    clock.now = 11               # probes allowed: half-open with one slot
    sink = MemorySink()
    sub = submitter(gw, sink, clock, capacity=5, breaker=breaker)
    await feed(sub, [command("CREATE_USER", i, f"r{i}") for i in range(4)])
    final = sink.final()
    assert final["r0"].status is ResultStatus.FAILED and final["r0"].attemptLog[0].code == "PERMISSION_DENIED"
    assert [final[f"r{i}"].status for i in (1, 2, 3)] == [ResultStatus.CONFIRMED] * 3
    assert breaker.state is State.CLOSED


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
        ("RETRYABLE", "CommitStatusError", "DEADLINE_EXCEEDED"), ("COMMITTED", None, None)]


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
    assert r.attemptLog[-1].txId != "first-tx"  # the replay's own transaction is in the log


async def test_a_full_window_waits_in_the_backlog_and_signals_room(env) -> None:
    fake, gw = env
    fake.scripts["IdentityContract:CreateUser"] = Script(delay=0.05)
    sink, clock = MemorySink(), Clock()
    rooms: list[int] = []
    sub = submitter(gw, sink, clock, capacity=2, on_room=lambda: rooms.append(1))
    admitted = [sub.offer(Record("gx.commands", 0, i, f"k{i}".encode(), command("CREATE_USER", i, f"r{i}")))
                for i in range(5)]
    assert admitted == [True, True, False, False, False]
    await asyncio.wait_for(sub.drain(), 10)
    assert len(sink.final()) == 5 and sub.committable() == 5
    assert rooms and sub.backlog == 0  # room was signalled as the backlog was admitted


async def test_close_cancels_commands_in_flight_without_acking_them(env) -> None:
    fake, gw = env
    fake.scripts["IdentityContract:CreateUser"] = Script(delay=5)
    sink, clock = MemorySink(), Clock()
    done: list[int] = []
    sub = submitter(gw, sink, clock, on_done=lambda r: done.append(r.offset))
    for i in range(3):
        sub.offer(Record("gx.commands", 0, i, f"k{i}".encode(), command("CREATE_USER", i, f"r{i}")))
    await asyncio.sleep(0.1)
    await asyncio.wait_for(sub.close(), 5)
    assert done == [] and sink.final() == {} and sub.committable() is None


async def test_mvcc_conflicts_are_retried_but_never_open_the_breaker(env) -> None:
    fake, gw = env
    fake.scripts["IdentityContract:CreateUser"] = Script(validation="MVCC_READ_CONFLICT")
    sink, clock = MemorySink(), Clock()
    sub = submitter(gw, sink, clock, capacity=10, breaker=CircuitBreaker(failure_threshold=2))
    await feed(sub, [command("CREATE_USER", i, f"r{i}") for i in range(6)])
    assert {(r.status, r.errorCode, r.attempts) for r in sink.final().values()} == {
        (ResultStatus.FAILED, "RETRIES_EXHAUSTED", 5)}
    assert sub.breaker.state is State.CLOSED
