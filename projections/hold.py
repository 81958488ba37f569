"""Holding batches that only move checkpoints. Pure (no I/O, an injected clock value).

Most events on gx.fabric.events belong to other groups: a batch of those alone would be a
transaction that moves checkpoints and writes nothing else. Such batches are held (their events
unacked) for up to ``hold_s`` and joined with what follows, so that one transaction is written
instead of ten; replaying them after a crash changes nothing.

Each record is parsed and folded once: a new batch is prepared against where the held one ends,
and the two are merged (:func:`merge`); the held records are never prepared again (they were, on
each new batch, before: about five times the parsing work for groups that mostly see others' events).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from projections.model import GroupSpec, Prepared, Record
from projections.prepare import prepare as prepare_records

PrepareFn = Callable[[GroupSpec, Sequence[Record], Mapping[int, int]], Prepared]


def merge(first: Prepared, then: Prepared) -> Prepared:
    """One batch of ``first`` followed by ``then`` (prepared against where ``first`` ends)."""
    out = Prepared(first.records + then.records, {**then.after, **first.after})
    out.stmts = first.stmts + then.stmts
    out.dead = first.dead + then.dead
    out.applied = dict(first.applied)
    for k, n in then.applied.items():
        out.applied[k] = out.applied.get(k, 0) + n
    out.passed_over = first.passed_over + then.passed_over
    out.skipped = first.skipped + then.skipped
    out.last_offset = {**first.last_offset, **then.last_offset}
    out.position = dict(first.position)
    for p, pos in then.position.items():  # the newest seen, as prepare keeps it
        if p not in out.position or out.position[p] < pos:
            out.position[p] = pos
    times = [t for t in (first.last_commit_ms, then.last_commit_ms) if t is not None]
    out.last_commit_ms = max(times) if times else None
    return out


@dataclass
class Hold:
    group: GroupSpec
    hold_s: float
    max_records: int
    prepare: PrepareFn = prepare_records

    def __post_init__(self) -> None:
        self.held: tuple[Prepared, list[Any], float] | None = None

    @property
    def deadline(self) -> float | None:
        """When what is held must be written, or None."""
        return None if self.held is None else self.held[2] + self.hold_s

    def add(
        self, records: Sequence[Record], events: list[Any], after: Mapping[int, int], now: float
    ) -> tuple[Prepared, list[Any]] | None:
        """Prepare ``records`` (against ``after``, the writer's checkpoints, or where a held batch
        ends); returns the batch to write now, or None while it is held."""
        if self.held is None:
            batch, evs, since = self.prepare(self.group, records, after), list(events), now
        else:
            first, held_events, since = self.held
            batch = merge(first, self.prepare(self.group, records, {**after, **first.last_offset}))
            evs = held_events + list(events)
        if not batch.stmts and not batch.dead and len(batch.records) < self.max_records and now - since < self.hold_s:
            self.held = (batch, evs, since)
            return None
        self.held = None
        return batch, evs

    def release(self) -> tuple[Prepared, list[Any]] | None:
        """What is held, to write now (its deadline passed, or the writer stops or resyncs)."""
        if self.held is None:
            return None
        batch, events, _ = self.held
        self.held = None
        return batch, events
