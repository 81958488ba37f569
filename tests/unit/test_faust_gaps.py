"""Faust's offset bookkeeping on a topic written in Kafka transactions (each transaction ends in a
commit marker no consumer sees): with the patch of gxcommon.faust_app, the committable offset
follows the acknowledged records; without it, it stalls (the bug the dashboards showed)."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from typing import Any

from faust.transport.consumer import Consumer
from faust.types import TP
from intervaltree import IntervalTree

from gxcommon.faust_app import _exclusive_gaps


class Bookkeeping:
    """The attributes Consumer._add_gap and Consumer._new_offset use, driven as the consumer does."""

    def __init__(self) -> None:
        self._committed_offset: dict[TP, int | None] = defaultdict(lambda: None)
        self._gap: dict[TP, IntervalTree] = defaultdict(IntervalTree)
        self._acked: dict[TP, list[int]] = defaultdict(list)
        self._acked_index: dict[TP, set[int]] = defaultdict(set)


def transactional_offsets(blocks: int, seed: int = 1) -> tuple[list[int], int]:
    """Offsets of records of ``blocks`` transactions of 1-5 records, each followed by its marker."""
    rnd, offsets, o = random.Random(seed), [], 0
    for _ in range(blocks):
        for _ in range(rnd.randint(1, 5)):
            offsets.append(o)
            o += 1
        o += 1
    return offsets, o


def committed_after(add_gap: Any, offsets: list[int], ack_every: int = 37) -> int | None:
    """Read every record (gaps registered as Consumer._drain_messages does), acknowledge them in
    batches after reading ahead, and commit what Consumer._new_offset allows."""
    book, tp = Bookkeeping(), TP("gx.fabric.events", 0)

    async def run() -> None:
        last, pending = None, []
        for i, off in enumerate(offsets):
            if last is not None and off - last > 1 and last:
                await add_gap(book, tp, last + 1, off)
            last = off
            pending.append(off)
            if i % ack_every == ack_every - 1:
                book._acked[tp].extend(pending)
                pending = []
                new = Consumer._new_offset(book, tp)  # type: ignore[arg-type]
                done = book._committed_offset[tp]
                if new is not None and (done is None or new > done):
                    book._committed_offset[tp] = new

    asyncio.run(run())
    return book._committed_offset[tp]


def faust_add_gap() -> Any:
    """faust-streaming's own _add_gap (once patched, the patch holds it in its closure)."""
    f = Consumer._add_gap
    if not getattr(f, "_gx_exclusive", False):
        return f
    assert f.__closure__ is not None, "the patch is a closure over faust's own function"
    return f.__closure__[0].cell_contents


def test_commits_follow_the_acknowledged_records_across_transaction_markers() -> None:
    unpatched = faust_add_gap()
    _exclusive_gaps()
    offsets, _ = transactional_offsets(300)
    acked = offsets[: len(offsets) // 37 * 37]  # the records of the full batches acknowledged
    committed = committed_after(Consumer._add_gap, offsets)
    assert committed is not None and committed >= acked[-1]
    # faust-streaming's own bookkeeping stalls near the start on the same offsets.
    stalled = committed_after(unpatched, offsets)
    assert stalled is not None and stalled < acked[-1] // 4
