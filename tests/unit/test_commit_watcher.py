"""Commit statuses from one filtered-block stream (fabric_gateway.commits), alone and inside the
submitter, against the in-process fake Gateway's DeliverFiltered (fault injection: streams refused,
dropped, a transaction no block names)."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from fabric_gateway import CommitStatusError, Status
from fabric_gateway.commits import CommitWatcher
from schemas.envelopes import ResultStatus
from streams.breaker import CircuitBreaker
from streams.outcome import RetryPolicy
from tests.unit.fake_gateway import Script
from tests.unit.test_submitter import Clock, MemorySink, command, feed, submitter
from tests.waiting import wait_until_async


async def following(watcher: CommitWatcher) -> None:
    watcher.start()
    await wait_until_async(lambda: watcher.following, "the watcher to read a block", timeout=5)


async def test_fold_answers_expected_transactions_skips_blocks_read_and_remembers_a_bounded_few() -> None:
    w = CommitWatcher(gateway=None, channel="c", remember=2)
    w.fold(5, ())
    assert w.following and w.next_block == 6
    waiter = w.expect("a")
    w.fold(6, (("a", "VALID"), ("b", "MVCC_READ_CONFLICT")))
    assert await waiter.wait(1) == Status("a", "VALID", 6)
    # A late expect (after its block) is answered from the statuses remembered.
    assert await w.expect("b").wait(1) == Status("b", "MVCC_READ_CONFLICT", 6)
    w.fold(6, (("c", "VALID"),))  # read already: ignored
    assert w.next_block == 7 and "c" not in w._recent
    w.fold(7, (("d", "VALID"), ("e", "VALID")))
    assert list(w._recent) == ["d", "e"]
    waiter.close()
    assert not w._waiting


async def test_a_transaction_no_block_names_times_out_as_deadline_exceeded(env) -> None:
    _fake, gw = env
    w = CommitWatcher(gw, "gxchannel")
    await following(w)
    waiter = w.expect("never")
    with pytest.raises(CommitStatusError) as e:
        await waiter.wait(0.05)
    assert e.value.code is grpc.StatusCode.DEADLINE_EXCEEDED and e.value.tx_id == "never"
    waiter.close()
    assert not w._waiting  # nothing held for a transaction given up
    await w.stop()


async def test_the_submitter_reads_commits_from_the_stream_and_asks_nothing(env) -> None:
    fake, gw = env
    w = CommitWatcher(gw, "gxchannel")
    await following(w)
    first = fake.height
    sink, clock = MemorySink(), Clock()
    sub = submitter(gw, sink, clock, commits=w)
    await feed(sub, [command("CREATE_USER", i, f"r{i}") for i in range(10)])
    final = sink.final()
    assert len(final) == 10 and all(r.status is ResultStatus.CONFIRMED for r in final.values())
    assert fake.status_calls == []  # no CommitStatus call
    blocks = [b for r in final.values() if (b := r.commitBlock) is not None]
    assert sorted(blocks) == list(range(first, first + 10))  # the blocks cut
    assert {r.fabricTxId for r in final.values()} == set(fake.submitted)
    assert fake.deliver_calls == 1
    await w.stop()


async def test_a_dropped_stream_resumes_after_the_last_block_read_and_loses_no_commit(env) -> None:
    fake, gw = env
    breaks: list[BaseException] = []
    w = CommitWatcher(gw, "gxchannel", max_backoff=0.05, on_break=lambda err, s: breaks.append(err))
    await following(w)
    sink, clock = MemorySink(), Clock()
    sub = submitter(gw, sink, clock, commits=w, capacity=5)
    fake.deliver_fail_times = 3  # the next three streams are refused: blocks are cut meanwhile
    await fake.drop_streams()
    await feed(sub, [command("CREATE_USER", i, f"r{i}") for i in range(10)])
    final = sink.final()
    assert len(final) == 10 and all(r.status is ResultStatus.CONFIRMED and r.attempts == 1 for r in final.values())
    assert fake.status_calls == []
    assert len(breaks) == 4 and fake.deliver_calls == 5  # dropped once, refused three times, then resumed
    assert len(fake.submitted) == 10  # nothing sent twice
    await w.stop()


async def test_before_the_stream_is_up_the_submitter_asks_the_commit_status(env) -> None:
    fake, gw = env
    fake.deliver_fail_times = 10**6  # the peer refuses the stream (a policy, a peer starting)
    w = CommitWatcher(gw, "gxchannel", max_backoff=0.05)
    w.start()
    sink, clock = MemorySink(), Clock()
    sub = submitter(gw, sink, clock, commits=w)
    await feed(sub, [command("CREATE_USER", i, f"r{i}") for i in range(3)])
    assert all(r.status is ResultStatus.CONFIRMED for r in sink.final().values()) and len(sink.final()) == 3
    assert sorted(fake.status_calls) == sorted(fake.submitted)  # one call per transaction instead
    assert not w.following
    await w.stop()


async def test_a_commit_the_stream_missed_is_found_by_asking_before_anything_is_sent_again(env) -> None:
    """No block names it within the commit timeout: the submitter asks (CommitStatus says VALID)
    and reports that transaction, instead of endorsing a second one."""
    fake, gw = env
    fake.scripts["IdentityContract:CreateUser"] = Script(unseen=True)
    w = CommitWatcher(gw, "gxchannel")
    await following(w)
    sink, clock = MemorySink(), Clock()
    sub = submitter(gw, sink, clock, commits=w, commit_timeout=0.05)
    await feed(sub, [command("CREATE_USER", 1, "r1")])
    r = sink.final()["r1"]
    assert (r.status, r.attempts, r.commitBlock) == (ResultStatus.CONFIRMED, 2, fake.block)
    assert len(fake.submitted) == 1 and fake.status_calls == fake.submitted
    await w.stop()


async def test_an_invalid_commit_read_from_the_stream_is_retried_then_failed(env) -> None:
    fake, gw = env
    fake.scripts["IdentityContract:CreateUser"] = Script(validation="MVCC_READ_CONFLICT")
    w = CommitWatcher(gw, "gxchannel")
    await following(w)
    sink, clock = MemorySink(), Clock()
    sub = submitter(
        gw,
        sink,
        clock,
        commits=w,
        capacity=1,
        breaker=CircuitBreaker(failure_threshold=100),
        policy=RetryPolicy(max_attempts=3, max_conflicts=2),
    )
    await feed(sub, [command("CREATE_USER", 1, "r1")])
    r = sink.final()["r1"]
    assert (r.status, r.errorCode, r.validationCode) == (ResultStatus.FAILED, "RETRIES_EXHAUSTED", "MVCC_READ_CONFLICT")
    assert len(fake.submitted) == r.attempts and fake.status_calls == []
    await w.stop()


async def test_a_transaction_overtaken_by_later_ones_is_taken_for_lost_and_a_copy_keeps_the_first_status() -> None:
    """An orderer that dies loses the transactions of its unfinished batch; the sign is later
    transactions committing while it does not: in two blocks, or in one and none names it within
    the grace (a transaction one block behind a later one is not lost: the review's probe saw a
    copy sent of it). The copy of a transaction sent again that is ordered too (DUPLICATE_TXID)
    never replaces the first copy's status."""
    w = CommitWatcher(gateway=None, channel="c", overtaken_grace=2.0)
    w.fold(1, ())
    now = asyncio.get_running_loop().time
    behind, lost, later, unrelated = w.expect("behind"), w.expect("lost"), w.expect("later"), w.expect("other")
    for x in (behind, lost, later):  # sent in this order
        x.submitted()
    w.fold(2, (("someone-elses", "VALID"),))  # not ours: says nothing about ours
    assert lost.overtaken_blocks == 0
    w.fold(3, (("later", "VALID"),))
    assert (lost.overtaken_blocks, behind.overtaken_blocks, unrelated.overtaken_blocks) == (1, 1, 0)
    assert not lost.overtaken(now()) and not behind.overtaken(now())  # one block: not yet
    assert lost.overtaken(now() + 2.0)  # one block and the grace gone by
    w.fold(4, (("behind", "VALID"),))  # the next block: it was only behind
    assert await behind.wait(1) == Status("behind", "VALID", 4)
    assert lost.overtaken_blocks == 1  # behind was sent before lost: it overtakes nothing
    extra = w.expect("extra")
    extra.submitted()
    w.fold(5, (("extra", "VALID"),))
    assert lost.overtaken_blocks == 2 and lost.overtaken(now())  # two blocks: lost
    assert await later.wait(1) == Status("later", "VALID", 3)
    lost.submitted()  # sent again: the latest now, nothing against it
    assert lost.overtaken_blocks == 0 and not lost.overtaken(now() + 100)
    w.fold(6, (("lost", "VALID"), ("lost", "DUPLICATE_TXID")))
    assert await lost.wait(1) == Status("lost", "VALID", 6)
    w.fold(7, (("lost", "DUPLICATE_TXID"),))
    assert await w.expect("lost").wait(1) == Status("lost", "VALID", 6)
    for x in (lost, behind, later, unrelated, extra):
        x.close()
    assert not w._waiting and not w._in_flight


async def test_wait_sends_a_lost_transaction_again_at_once_and_a_silent_one_after_a_while() -> None:
    w = CommitWatcher(gateway=None, channel="c")
    w.fold(1, ())
    sent: list[str] = []
    lost, a, b = w.expect("lost"), w.expect("a"), w.expect("b")
    for x in (lost, a, b):
        x.submitted()

    async def resend() -> None:
        sent.append("lost")
        w.fold(w.next_block or 0, (("lost", "VALID"),))  # this time it is ordered

    w.fold(2, (("a", "VALID"),))
    w.fold(3, (("b", "VALID"),))  # overtaken in two blocks
    # resubmit_after beyond the timeout: only the overtaking can have sent the copy.
    assert await lost.wait(30, resend, resubmit_after=1000) == Status("lost", "VALID", 4)
    assert sent == ["lost"] and lost.resubmits == 1
    # Nothing overtakes it: sent again after each resubmit_after, until the timeout.
    silent = w.expect("silent")
    silent.submitted()
    copies: list[int] = []

    async def count() -> None:
        copies.append(1)

    with pytest.raises(CommitStatusError):
        await silent.wait(0.35, count, resubmit_after=0.1)
    assert len(copies) == 3 and silent.resubmits == 3
    with pytest.raises(ValueError, match="resubmit_after must be positive"):
        await silent.wait(1, count, resubmit_after=0)  # 0 would send copies without end
    for x in (lost, a, b, silent):
        x.close()


async def test_a_cancelled_or_plain_wait_leaves_no_task_and_does_not_spin() -> None:
    """The review's probes: a wait cancelled (a revocation) left its event task pending for ever;
    an overtaken transaction waited on without ``resubmit`` spun the loop until its deadline."""
    w = CommitWatcher(gateway=None, channel="c")
    w.fold(1, ())
    slow, a, b = w.expect("slow"), w.expect("a"), w.expect("b")
    for x in (slow, a, b):
        x.submitted()

    async def nothing() -> None:
        pass

    before = set(asyncio.all_tasks())
    task = asyncio.ensure_future(slow.wait(30, nothing, resubmit_after=20))
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)
    assert set(asyncio.all_tasks()) - before == set()
    w.fold(2, (("a", "VALID"),))
    w.fold(3, (("b", "VALID"),))  # overtaken: a plain wait just waits
    cpu = time.process_time()
    with pytest.raises(CommitStatusError):
        await slow.wait(0.3)
    assert time.process_time() - cpu < 0.1  # it slept; spinning took the whole 0.3 s of CPU
    for x in (slow, a, b):
        x.close()


async def test_a_transaction_lost_at_the_orderer_is_sent_again_and_confirmed_once(env) -> None:
    """Through the submitter: Submit said OK but the transaction went nowhere (an orderer killed
    with it in its batch). A command sent after it commits first, so the lost one is sent again
    (the same transaction) at once instead of after the commit timeout, and confirmed once."""
    fake, gw = env
    fake.scripts["IdentityContract:CreateUser"] = Script(lost_times=1, delay=0.0)
    w = CommitWatcher(gw, "gxchannel")
    await following(w)
    sink, clock = MemorySink(), Clock()
    # No periodic copy within the commit timeout: only the overtaking can send it again in time.
    sub = submitter(gw, sink, clock, commits=w, commit_timeout=30, resubmit_after=1000)
    await feed(sub, [command("CREATE_USER", 1, "r1"), command("FREEZE_WALLET", 2, "r2")])
    final = sink.final()
    assert {r.status for r in final.values()} == {ResultStatus.CONFIRMED}
    assert final["r1"].attempts == 1  # the same attempt, the same transaction
    lost_tx = final["r1"].fabricTxId
    assert fake.submitted.count(lost_tx) == 2 and len(set(fake.submitted)) == 2
    await w.stop()
