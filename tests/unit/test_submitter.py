"""The submitter's core against the in-process fake Gateway (fault injection), with a fake clock."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import grpc

from fabric_gateway import Gateway, GatewayError
from schemas.envelopes import CommandEnvelope, CommandResult, ResultStatus
from schemas.examples import example
from schemas.routing import partition_key
from streams.breaker import CircuitBreaker, State
from streams.outcome import RetryPolicy
from streams.submitter import Hooks, PartitionSubmitter, Record
from streams.window import SubmitWindow
from tests.unit.fake_gateway import Script
from tests.waiting import wait_until_async


@dataclass
class MemorySink:
    results: list[CommandResult] = field(default_factory=list)
    dead: list[tuple[int, str, str]] = field(default_factory=list)

    async def result(self, key: bytes, result: CommandResult) -> None:
        self.results.append(result)

    async def dead_letter(self, record: Record, reason: str, error_code: str, attempts: int) -> None:
        self.dead.append((record.offset, error_code, reason))

    def final(self) -> dict[str, CommandResult]:
        return {r.requestId: r for r in self.results if r.status.final}


@dataclass
class Recording(Hooks):
    """Hooks that keep what they are told."""

    finished: list[int] = field(default_factory=list)  # offsets, as done
    committables: list[int] = field(default_factory=list)
    rooms: int = 0
    failures: list[tuple[GatewayError, bool]] = field(default_factory=list)
    sends: int = 0
    commits: list[float] = field(default_factory=list)
    fatals: list[BaseException] = field(default_factory=list)

    def done(self, rec: Record) -> None:
        self.finished.append(rec.offset)

    def committable(self, offset: int) -> None:
        self.committables.append(offset)

    def room(self) -> None:
        self.rooms += 1

    def attempt_failed(self, err: GatewayError, counted: bool) -> None:
        self.failures.append((err, counted))

    def submitted(self) -> None:
        self.sends += 1

    def committed(self, seconds: float) -> None:
        self.commits.append(seconds)

    def fatal(self, err: BaseException) -> None:
        self.fatals.append(err)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def command(ctype: str, n: object, rid: str, payload: dict | None = None) -> bytes:
    payload = payload if payload is not None else example(ctype, n)
    try:
        key = partition_key(ctype, payload)
    except Exception:
        key = "bad"
    return (
        CommandEnvelope(
            id=f"id-{rid}",
            tenantId="t",
            service="s",
            commandType=ctype,
            requestId=rid,
            payload=payload,
            key=key,
            createdAt=datetime.now(UTC),
        )
        .model_dump_json()
        .encode()
    )


def submitter(gw: Gateway, sink: MemorySink, clock: Clock, **kw) -> PartitionSubmitter:
    return PartitionSubmitter(
        gw,
        sink,
        "gxchannel",
        "gxtv3",
        SubmitWindow(kw.pop("capacity", 50)),
        clock=clock,
        sleep=clock.sleep,
        rand=lambda: 0.5,
        **kw,
    )


async def feed(sub: PartitionSubmitter, values: list[bytes], keys: list[bytes] | None = None) -> None:
    for i, v in enumerate(values):
        k = keys[i] if keys else json.loads(v).get("key", "").encode() if v.startswith(b"{") else b"x"
        sub.offer(Record("gx.commands", 0, i, k, v))  # a full window keeps the rest in its backlog
    await asyncio.wait_for(sub.drain(), 30)


async def test_valid_commands_are_confirmed_and_offsets_committed(env) -> None:
    fake, gw = env
    sink, clock = MemorySink(), Clock()
    sub = submitter(gw, sink, clock)
    await feed(sub, [command("CREATE_USER", i, f"r{i}") for i in range(10)])
    final = sink.final()
    assert len(final) == 10 and all(r.status is ResultStatus.CONFIRMED for r in final.values())
    assert all(r.fabricTxId and r.commitBlock == 7 and r.attempts == 1 for r in final.values())
    assert not any(r.status is ResultStatus.SUBMITTED for r in sink.results)  # no progress results by default
    assert all(r.timings.submittedAt is not None for r in final.values())  # the final one says when it was sent
    assert sub.committable() == 10
    assert all(fn == "IdentityContract:CreateUser" for fn, _ in fake.calls)
    assert {tuple(args[:2]) for _, args in fake.calls} == {
        (b"t", f"r{i}".encode()) for i in range(10)
    }  # tenant, requestId first


async def test_with_progress_each_command_publishes_submitted_before_its_final_result(env) -> None:
    """GX_SUBMITTED_RESULTS=true: a SUBMITTED result (with the tx id) per send, then the final one."""
    _fake, gw = env
    sink, clock = MemorySink(), Clock()
    sub = submitter(gw, sink, clock, progress=True)
    await feed(sub, [command("CREATE_USER", i, f"r{i}") for i in range(4)])
    for rid in (f"r{i}" for i in range(4)):
        mine = [r for r in sink.results if r.requestId == rid]
        assert [r.status for r in mine] == [ResultStatus.SUBMITTED, ResultStatus.CONFIRMED]
        assert mine[0].fabricTxId == mine[1].fabricTxId


async def test_an_invalid_payload_is_rejected_and_dead_lettered_without_an_attempt(env) -> None:
    fake, gw = env
    sink, clock = MemorySink(), Clock()
    sub = submitter(gw, sink, clock)
    bad = command("TRANSFER_TOKENS", 1, "bad", {"fromWalletId": "a", "toWalletId": "b", "amount": 0})
    await feed(sub, [bad, b"not json at all", command("MINT", 1, "m", {})], keys=[b"a", b"x", b"y"])
    assert fake.calls == []
    codes = [(r.status, r.errorCode) for r in sink.results]
    assert codes == [
        (ResultStatus.REJECTED, "INVALID_PAYLOAD"),
        (ResultStatus.REJECTED, "INVALID_ENVELOPE"),
        (ResultStatus.REJECTED, "UNKNOWN_COMMAND_TYPE"),
    ]
    assert [d[:2] for d in sink.dead] == [(0, "INVALID_PAYLOAD"), (1, "INVALID_ENVELOPE"), (2, "UNKNOWN_COMMAND_TYPE")]
    assert "amount: Input should be greater than 0" in sink.dead[0][2]
    assert sub.committable() == 3


async def test_records_that_cannot_be_read_as_commands_are_dead_lettered_in_their_place(env) -> None:
    """Issue 30, defect 2: any bytes can arrive on gx.commands (the SDK path). A record without a
    key, with a key or a header that is not UTF-8, or larger than any command, each followed by a
    good command: every one of them is REJECTED and dead-lettered with its reason, keeps its place
    in the window (so the offset to commit passes it only once it is dead-lettered), and the good
    ones are confirmed. The key that is not UTF-8 used to raise out of offer() (UnicodeDecodeError:
    the agent crashed, and its partition stopped when it came from the backlog)."""
    fake, gw = env
    sink, clock = MemorySink(), Clock()
    sub = submitter(gw, sink, clock, capacity=2)
    good = [command("CREATE_USER", i, f"g{i}") for i in range(5)]
    bad = command("CREATE_USER", 9, "bad")
    records = [
        Record("gx.commands", 0, 0, b"\xff\xfeusr", bad),
        Record("gx.commands", 0, 1, json.loads(good[0])["key"].encode(), good[0]),
        Record("gx.commands", 0, 2, None, bad),
        Record("gx.commands", 0, 3, json.loads(good[1])["key"].encode(), good[1]),
        Record("gx.commands", 0, 4, b"k", bad, (("id", b"1"), ("service", b"\xc3\x28"))),
        Record("gx.commands", 0, 5, json.loads(good[2])["key"].encode(), good[2]),
        Record("gx.commands", 0, 6, b"k", bad[:-1] + b', "pad": "' + b"x" * 200_000 + b'"}'),
        Record("gx.commands", 0, 7, json.loads(good[3])["key"].encode(), good[3]),
        Record("gx.commands", 0, 8, b"\x80", b"\xff not json"),  # the backlog's path (window of 2)
        Record("gx.commands", 0, 9, json.loads(good[4])["key"].encode(), good[4]),
    ]
    for rec in records:
        sub.offer(rec)
    await asyncio.wait_for(sub.drain(), 30)
    assert [(o, code) for o, code, _ in sink.dead] == [
        (0, "INVALID_KEY"),
        (2, "INVALID_KEY"),
        (4, "INVALID_HEADERS"),
        (6, "RECORD_TOO_LARGE"),
        (8, "INVALID_KEY"),
    ]
    reasons = {o: reason for o, _, reason in sink.dead}
    assert "not UTF-8" in reasons[0] and "no key" in reasons[2] and "'service'" in reasons[4]
    assert "over the 131072 bytes" in reasons[6]
    rejected = [r for r in sink.results if r.status is ResultStatus.REJECTED]
    assert [r.sourceOffset for r in rejected] == [0, 2, 4, 6, 8] and rejected[0].key == "\\xff\\xfeusr"
    assert rejected[0].requestId == "bad"  # the ids that can be read, for the outbox row
    final = sink.final()
    assert all(final[f"g{i}"].status is ResultStatus.CONFIRMED for i in range(5))
    assert sub.committable() == 10 and not [c for c in fake.calls if c[1][1] == b"bad"]


async def test_an_error_the_chaincode_throws_is_retried_then_dead_lettered_and_leaves_the_breaker_closed(env) -> None:
    """Issue 30, defect 3: an error the chaincode throws (here a bug of the chaincode) is recorded
    nowhere, so it is no final answer: retried with backoff up to the policy's attempts, then FAILED
    as CHAINCODE_REFUSED and dead-lettered for a replay once fixed. It used to end FAILED
    (CHAINCODE_REJECTED) after one attempt, without a dead letter. Fabric answered: the breaker
    stays closed."""
    fake, gw = env
    fake.scripts["TokenomicsContract:DistributeGenesis"] = Script(
        reject="failed to mint coins for SYSTEM_USER_GENESIS_POOL"
    )
    sink, clock = MemorySink(), Clock()
    sub = submitter(gw, sink, clock)
    await feed(sub, [command("DISTRIBUTE_GENESIS", i, f"g{i}") for i in range(8)])
    final = sink.final()
    assert all(
        r.status is ResultStatus.FAILED and r.errorCode == "CHAINCODE_REFUSED" and r.attempts == 5
        for r in final.values()
    ), [(r.errorCode, r.attempts) for r in final.values()]
    assert final["g0"].error == "chaincode response 500, failed to mint coins for SYSTEM_USER_GENESIS_POOL"
    assert [a.outcome for a in final["g0"].attemptLog] == ["CHAINCODE_REFUSED"] * 5
    assert sorted(d[1] for d in sink.dead) == ["CHAINCODE_REFUSED"] * 8 and sub.breaker.state is State.CLOSED
    assert len(fake.calls) == 40


async def test_transient_errors_are_retried_then_confirmed(env) -> None:
    fake, gw = env
    fake.scripts["IdentityContract:CreateUser"] = Script(fail_times=3, fail_code=grpc.StatusCode.DEADLINE_EXCEEDED)
    sink, clock = MemorySink(), Clock()
    sub = submitter(gw, sink, clock, capacity=1)
    await feed(sub, [command("CREATE_USER", 1, "r1")])
    r = sink.final()["r1"]
    assert (r.status, r.attempts) == (ResultStatus.CONFIRMED, 4)
    assert clock.now > 0  # it backed off between attempts


async def test_retries_end_in_failed_and_a_dead_letter(env) -> None:
    fake, gw = env
    fake.scripts["F"] = Script()
    fake.scripts["IdentityContract:CreateUser"] = Script(validation="MVCC_READ_CONFLICT")
    sink, clock = MemorySink(), Clock()
    sub = submitter(
        gw,
        sink,
        clock,
        capacity=1,
        breaker=CircuitBreaker(failure_threshold=100),
        policy=RetryPolicy(max_attempts=3, max_conflicts=4),
    )
    await feed(sub, [command("CREATE_USER", 1, "r1")])
    r = sink.final()["r1"]
    # Conflicts have their own budget (max_conflicts), apart from the attempts other failures spend.
    assert (r.status, r.errorCode, r.attempts, r.validationCode) == (
        ResultStatus.FAILED,
        "RETRIES_EXHAUSTED",
        4,
        "MVCC_READ_CONFLICT",
    )
    assert [d[1] for d in sink.dead] == ["RETRIES_EXHAUSTED"]


async def test_an_outage_opens_the_breaker_burns_nothing_while_open_and_fails_nothing(env) -> None:
    fake, gw = env
    fake.down = True
    clock = Clock()

    async def tick(_: float) -> None:  # time stands still unless the test moves it
        await asyncio.sleep(0.001)

    sink = MemorySink()
    sub = PartitionSubmitter(gw, sink, "gxchannel", "gxtv3", SubmitWindow(5), clock=clock, sleep=tick, rand=lambda: 0.5)
    task = asyncio.create_task(feed(sub, [command("CREATE_USER", i, f"r{i}") for i in range(5)]))
    await wait_until_async(lambda: sub.breaker.state, "the breaker open", until=lambda s: s is State.OPEN, timeout=5)
    # Nothing may happen while it is open, so there is nothing to wait for: the fake clock stands
    # still and each tick takes 1 ms, so in 0.3 s a leaking breaker would let hundreds of attempts
    # through. The first 0.1 s lets attempts sent before it opened reach the fake.
    await asyncio.sleep(0.1)
    calls_when_open = len(fake.calls)
    await asyncio.sleep(0.3)
    assert len(fake.calls) == calls_when_open, "attempts were made while the breaker was open"
    assert calls_when_open <= 5 + 4  # the attempts already in flight when it opened
    fake.down = False  # the peer is back; 60 s later the breaker lets a probe through
    clock.now += 61
    await asyncio.wait_for(task, 30)
    final = sink.final()
    assert len(final) == 5 and all(r.status is ResultStatus.CONFIRMED for r in final.values())
    assert sub.breaker.state is State.CLOSED and sink.dead == []


async def test_per_key_order_is_kept_while_other_keys_overlap(env) -> None:
    fake, gw = env
    sink, clock = MemorySink(), Clock()
    sub = submitter(gw, sink, clock, capacity=20)
    values = []
    for i in range(12):
        p = example("TRANSFER_TOKENS", f"w{i % 3}")
        p["memo"] = f"seq-{i}"
        values.append(command("TRANSFER_TOKENS", 0, f"t{i}", p))
    await feed(sub, values)
    for w in range(3):
        memos = [args[5].decode() for fn, args in fake.calls if args[2] == f"USR-w{w}".encode()]
        assert memos == [f"seq-{i}" for i in range(12) if i % 3 == w]
