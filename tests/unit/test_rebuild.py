"""A rebuild's catch-up and swap (projections.rebuild) with Kafka and Postgres faked (issue 32,
defect 6): what arrived during the replay is read and written in chunks, never in one list and
one transaction; inside the swap, where the live checkpoints are locked, only a short final gap
is applied (a longer one rolls back, to be caught up outside the lock); and the dead letters the
shadow finds past the live checkpoints are sent at the swap, since the live projector will resume
after them and never see them."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import pytest

from projections import identity, rebuild, store
from projections.model import DeadLetter, Prepared, Record
from projections.runner import Projector
from tests.unit.events_factory import record
from tests.unit.test_prepare import USER

TOPIC = "gx.fabric.events"


class Conn:
    """Enough of a connection for the swap: a transaction, and the live checkpoints it locks."""

    closed = False
    autocommit = True

    def __init__(self, live: dict[int, int]) -> None:
        self.live = live
        self.sql: list[str] = []

    @contextmanager
    def transaction(self) -> Any:
        yield self

    def execute(self, sql: str, params: Any = None) -> Any:
        self.sql.append(sql)
        rows = list(self.live.items()) if "FOR UPDATE" in sql else []
        return type("R", (), {"fetchall": lambda self: rows, "fetchone": lambda self: None})()

    def close(self) -> None:
        pass


def users(start: int, end: int, partition: int = 0) -> list[Record]:
    return [record(o, "UserCreated", {**USER, "userId": f"u{o}"}, partition=partition) for o in range(start, end)]


def test_the_catch_up_reads_and_writes_what_arrived_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """It read everything that arrived during the replay into one list and wrote it in one
    transaction (a long replay under load: a large gap)."""
    reads: list[tuple[int, int]] = []
    written: list[int] = []
    shadow = {0: 99}

    def read_range(bootstrap: str, topic: str, partition: int, start: int, end: int, timeout: float = 30) -> list:
        reads.append((start, end))
        return users(start, min(end, 10_000))

    def commit(conn: Any, name: str, channel: str, topic: str, batch: Prepared, tables: Any, on_dead: Any) -> None:
        written.append(len([r for r in batch.records if r.offset > batch.after[r.partition]]))
        shadow.update(batch.last_offset)

    class Ends:
        def __init__(self, conf: dict[str, Any]) -> None:
            pass

        def list_topics(self, topic: str, timeout: float = 10) -> Any:
            from types import SimpleNamespace

            return SimpleNamespace(topics={topic: SimpleNamespace(partitions={0: None})})

        def get_watermark_offsets(self, tp: Any, timeout: float = 10) -> tuple[int, int]:
            return (0, 10_000)

        def close(self) -> None:
            pass

    monkeypatch.setattr(rebuild, "Consumer", Ends)
    monkeypatch.setattr(rebuild, "read_range", read_range)
    monkeypatch.setattr(store, "commit", commit)
    monkeypatch.setattr(store, "checkpoints", lambda conn, name, topic: dict(shadow))
    p = Projector(
        identity.GROUP,
        "identity@rebuild",
        "gxchannel",
        TOPIC,
        lambda: Conn({}),  # type: ignore[arg-type, return-value]
        lambda t, q, s, e: read_range("", t, q, s, e),
        lambda dead: None,
        chunk=1000,
    )
    p.after = {0: 99}
    assert rebuild._catch_up(p, Conn({}), "kafka:9092", TOPIC) == 9_900  # type: ignore[arg-type]
    assert shadow == {0: 9_999}
    assert max(e - s for s, e in reads) <= 1000 and max(written) <= 1000


def test_inside_the_swap_only_a_short_gap_is_applied_a_long_one_rolls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[dict[int, tuple[int, int]]] = []
    shadow = {0: 10, 1: 500}
    monkeypatch.setattr(store, "checkpoints", lambda conn, name, topic: dict(shadow))
    conn = Conn({0: 100_000, 1: 500})  # the live projector is far ahead on partition 0
    with pytest.raises(rebuild.Behind):
        rebuild.swap(conn, identity.GROUP, "identity", "identity@rebuild", TOPIC, closed.append)  # type: ignore[arg-type]
    assert closed == []  # not applied under the live checkpoints' locks: caught up outside first

    def close(gap: dict[int, tuple[int, int]]) -> None:
        closed.append(gap)
        shadow.update({p: live for p, (_, live) in gap.items()})

    conn = Conn({0: 40, 1: 500})
    rebuild.swap(conn, identity.GROUP, "identity", "identity@rebuild", TOPIC, close)  # type: ignore[arg-type]
    assert closed == [{0: (10, 40)}] and any("RENAME TO" in s for s in conn.sql)


def letter(partition: int, offset: int) -> DeadLetter:
    return DeadLetter(Record(TOPIC, partition, offset, b"{not json", b"k"), "INVALID_EVENT", "not JSON")


def test_the_shadows_dead_letters_past_the_live_checkpoints_are_sent_at_the_swap() -> None:
    """The rebuild kept its dead letters in a local list: a bad event that arrived during the
    rebuild, past the live projector's checkpoint, never reached gx.projections.dlq."""
    live = {0: 7, 1: 3}
    sent: list[DeadLetter] = []
    held = rebuild.ShadowDeadLetters(lambda: dict(live), sent.extend)
    held([letter(0, 5), letter(0, 9)])  # 5: the live projector has passed it, and sent it itself
    held([letter(1, 4)])
    assert [(d.record.partition, d.record.offset) for d in held.held] == [(0, 9), (1, 4)]
    live[1] = 6  # meanwhile the live projector passed partition 1's (and sent it)
    assert held.flush(dict(live)) == 1
    assert [(d.record.partition, d.record.offset) for d in sent] == [(0, 9)]


def test_the_swap_sends_the_dead_letters_under_its_lock_and_a_failure_rolls_it_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(store, "checkpoints", lambda conn, name, topic: {0: 50})
    asked: list[dict[int, int]] = []

    def refuse(live: dict[int, int]) -> int:
        asked.append(live)
        raise RuntimeError("1 dead letter(s) not acknowledged by Kafka")

    conn = Conn({0: 40})
    with pytest.raises(RuntimeError, match="not acknowledged"):
        rebuild.swap(conn, identity.GROUP, "identity", "identity@rebuild", TOPIC, None, refuse)  # type: ignore[arg-type]
    assert asked == [{0: 40}] and not any("RENAME TO" in s for s in conn.sql)
