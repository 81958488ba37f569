"""The runner's gap replay (projections.runner) with its database edge faked: chunked, in order."""

from __future__ import annotations

from typing import Any, cast

import psycopg

from projections import ledger, store
from projections.runner import Projector
from tests.unit.test_prepare import USER, record


class FakeConn:
    closed = False
    autocommit = False

    def close(self) -> None:
        self.closed = True


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
        ledger.GROUP,
        "ledger",
        "gxchannel",
        "gx.fabric.events",
        lambda: cast(psycopg.Connection[Any], FakeConn()),  # the connection is only opened and closed here
        read_range,
        lambda dead: None,
        chunk=1000,
    )
    p.after = {0: 9_999}  # this writer had applied everything; the database was restored to nothing
    assert p.resync() == 10_000
    assert all(end - start <= 1000 for start, end in reads) and len(written) == 10
    assert [batch[0] for batch in written] == list(range(0, 10_000, 1000)) and stored == {0: 9_999}
