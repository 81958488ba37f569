"""Holding batches that only move checkpoints (projections.hold): each record prepared once."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from projections import ledger
from projections.hold import Hold, merge
from projections.model import GroupSpec, Prepared, Record
from projections.prepare import prepare
from tests.unit.test_prepare import USER, record


def counting() -> tuple[list[int], Callable[[GroupSpec, Sequence[Record], Mapping[int, int]], Prepared]]:
    seen: list[int] = []

    def prep(group: GroupSpec, records: Sequence[Record], after: Mapping[int, int]) -> Prepared:
        seen.extend(r.offset for r in records)
        return prepare(group, records, after)

    return seen, prep


def other(offset: int) -> Record:
    return record(
        offset,
        "ProposalSubmitted",
        {"proposalId": f"p{offset}", "proposerId": "u", "title": "t", "parameter": "x", "value": "1"},
    )


def test_held_records_are_prepared_once_and_the_batch_equals_one_prepared_at_once() -> None:
    """Issue 22: each new batch re-parsed every held record (about 5x the parsing work)."""
    seen, prep = counting()
    h = Hold(ledger.GROUP, hold_s=1.0, max_records=1000, prepare=prep)
    for i in range(5):  # five batches of another group's events: held, nothing written yet
        assert h.add([other(i)], [f"e{i}"], {}, now=0.1 * i) is None
    written = h.add([record(5, "UserCreated", USER)], ["e5"], {}, now=0.6)
    assert written is not None
    batch, events = written
    assert seen == [0, 1, 2, 3, 4, 5], "a held record was prepared again"
    whole = prepare(ledger.GROUP, [other(i) for i in range(5)] + [record(5, "UserCreated", USER)], {})
    assert events == [f"e{i}" for i in range(6)]
    assert (batch.last_offset, batch.after, batch.passed_over, batch.applied, len(batch.stmts)) == (
        whole.last_offset,
        whole.after,
        whole.passed_over,
        whole.applied,
        len(whole.stmts),
    )
    assert [s.params for s in batch.stmts] == [s.params for s in whole.stmts]


def test_what_is_held_goes_out_at_its_deadline_or_when_released() -> None:
    h = Hold(ledger.GROUP, hold_s=1.0, max_records=1000)
    assert h.add([other(0)], ["e0"], {}, now=10.0) is None and h.deadline == 11.0
    written = h.add([other(1)], ["e1"], {}, now=11.5)  # past the deadline: written
    assert written is not None
    batch, events = written
    assert events == ["e0", "e1"] and batch.last_offset == {0: 1} and h.deadline is None
    assert h.add([other(2)], ["e2"], {0: 1}, now=12.0) is None
    released = h.release()
    assert released is not None
    batch, events = released
    assert events == ["e2"] and batch.after == {0: 1} and h.release() is None


def test_merge_keeps_the_first_batchs_starting_checkpoints() -> None:
    a = prepare(ledger.GROUP, [other(3)], {0: 2})
    b = prepare(ledger.GROUP, [record(4, "UserCreated", USER, partition=1)], {0: 3, 1: 3})
    m = merge(a, b)
    assert m.after == {0: 2, 1: 3} and m.last_offset == {0: 3, 1: 4}
