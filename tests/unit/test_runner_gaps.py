"""The runner's gap replay (projections.runner) with its database edge faked: chunked, in order."""

from __future__ import annotations

from typing import Any

from projections import ledger, store
from projections.runner import Projector
from tests.unit.test_prepare import USER, record


class FakeConn:
    closed = False
    autocommit = False

    def close(self) -> None:
        self.closed = True


def connect() -> Any:
    return FakeConn()


def test_a_gap_is_read_and_written_in_chunks_never_all_at_once(monkeypatch) -> None:
    """Issue 22: a restored backup put the whole gap in memory and in one transaction."""
    reads: list[tuple[int, int]] = []
    written: list[list[int]] = []

    def read_range(topic: str, partition: int, start: int, end: int) -> list:
        reads.append((start, end))
        return [record(o, "UserCreated", {**USER, "userId": f"u{o}"}) for o in range(start, min(end, 10_000))]

    stored = {0: -1}

    def commit(conn, name, channel, topic, batch, tables, on_dead) -> None:
        written.append([r.offset for r in batch.records])
        stored.update(batch.last_offset)

    monkeypatch.setattr(store, "commit", commit)
    monkeypatch.setattr(store, "checkpoints", lambda conn, name, topic: dict(stored))
    p = Projector(
        ledger.GROUP, "ledger", "gxchannel", "gx.fabric.events", connect, read_range, lambda dead: None, chunk=1000
    )
    p.after = {0: 9_999}  # this writer had applied everything; the database was restored to nothing
    assert p.resync() == 10_000
    assert all(end - start <= 1000 for start, end in reads) and len(written) == 10
    assert [batch[0] for batch in written] == list(range(0, 10_000, 1000)) and stored == {0: 9_999}


def test_a_kafka_blip_while_replaying_a_moved_checkpoint_is_retried_not_raised(monkeypatch) -> None:
    """Issue 32, defect 5: GapReadError from read_range on the commit path (checkpoints moved)
    escaped the writer and crashed the worker, restarting all six groups; the resync path caught it."""
    from projections.errors import CheckpointMoved, GapReadError

    stored = {0: 4}  # the database was restored: it has applied up to offset 4 only
    reads: list[tuple[int, int]] = []
    blips = {"left": 2}

    def read_range(topic: str, partition: int, start: int, end: int) -> list:
        reads.append((start, end))
        if blips["left"]:
            blips["left"] -= 1
            raise GapReadError(topic, partition, start, end, "no record for 30s")
        return [record(o, "UserCreated", {**USER, "userId": f"u{o}"}) for o in range(start, end)]

    def commit(conn, name, channel, topic, batch, tables, on_dead) -> None:
        want = batch.after[0] if batch.after[0] != -2 else min(r.offset for r in batch.records) - 1
        if stored[0] != want:
            raise CheckpointMoved(topic, dict(stored))
        stored.update(batch.last_offset)

    slept: list[float] = []
    monkeypatch.setattr(store, "commit", commit)
    p = Projector(
        ledger.GROUP,
        "ledger",
        "gxchannel",
        "gx.fabric.events",
        connect,
        read_range,
        lambda dead: None,
        sleep=slept.append,
    )
    p.after = {0: 9}  # this writer had applied up to 9
    p.apply([record(o, "UserCreated", {**USER, "userId": f"u{o}"}) for o in range(10, 12)])
    assert stored == {0: 11} and reads[-1] == (5, 10) and len(slept) == 2
