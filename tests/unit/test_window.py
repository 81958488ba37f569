"""The submit window's invariants under any interleaving of starts and finishes (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.window import SubmitWindow, WindowError

keys = st.lists(st.sampled_from("abcde"), min_size=1, max_size=60)


@settings(max_examples=300)
@given(
    keys=keys,
    capacity=st.integers(1, 8),
    extra=st.integers(0, 20),
    choices=st.lists(st.integers(0, 1000), max_size=400),
)
def test_order_per_key_no_overlap_and_safe_commits(
    keys: list[str], capacity: int, extra: int, choices: list[int]
) -> None:
    w = SubmitWindow(capacity, span=capacity + extra)
    pending = list(enumerate(keys, start=100))  # (offset, key), consumed in order
    started: list[int] = []
    finished: set[int] = set()
    in_flight: dict[int, str] = {}
    commits: list[int] = []
    it = iter(choices)
    steps = 0
    while (pending or len(w)) and steps < 5000:
        steps += 1
        c = next(it, steps)
        # Admit as much as fits, like the agent does.
        while pending and not w.full:
            w.add(*pending.pop(0))
        ready = w.ready()
        if ready and (c % 2 == 0 or not in_flight):
            off = ready[c % len(ready)]
            key = keys[off - 100]
            assert key not in in_flight.values(), "two commands of one key in flight"
            w.start(off)
            in_flight[off] = key
            started.append(off)
        elif in_flight:
            off = sorted(in_flight)[c % len(in_flight)]
            del in_flight[off]
            finished.add(off)
            moved = w.finish(off)
            if moved is not None:
                commits.append(moved)
                # Never commit past an unfinished command.
                assert all(o in finished for o in range(100, moved))
        assert w.in_flight == len(in_flight) <= capacity
        assert len(w) <= capacity + extra
        if in_flight:
            assert w.oldest_unfinished() == min(o for o in range(100, 100 + len(keys)) if o not in finished)
    assert not pending and len(w) == 0
    assert finished == set(range(100, 100 + len(keys)))
    assert commits == sorted(commits) and commits[-1] == 100 + len(keys)
    # Per key, commands started in offset order.
    for k in set(keys):
        seq = [o for o in started if keys[o - 100] == k]
        assert seq == sorted(seq)


def test_a_key_waits_for_its_predecessor_while_others_go() -> None:
    w = SubmitWindow(10)
    for off, key in [(0, "wallet-1"), (1, "wallet-1"), (2, "wallet-2")]:
        w.add(off, key)
    assert w.ready() == [0, 2]
    w.start(0)
    w.start(2)
    with pytest.raises(WindowError, match="not ready"):
        w.start(1)
    assert w.finish(2) is None  # offset 0 still unfinished: nothing committable
    assert w.finish(0) == 1
    assert w.ready() == [1]
    w.start(1)
    assert w.finish(1) == 3


def test_misuse_is_refused() -> None:
    w = SubmitWindow(1)
    w.add(5, "k")
    with pytest.raises(WindowError, match="window full"):
        w.add(6, "k")
    with pytest.raises(WindowError, match="not in flight"):
        w.finish(5)
    w2 = SubmitWindow(3)
    w2.add(5, "k")
    with pytest.raises(WindowError, match="offset 4 after 5"):
        w2.add(4, "j")


def test_a_stuck_key_holds_only_its_own_commands_until_the_span_is_full() -> None:
    """Head-of-line: one command that never finishes lets every other key go on; the committable
    offset stays at it, and the window refuses more only when the uncommitted span is full."""
    w = SubmitWindow(4, span=100)
    w.add(0, "stuck")
    assert w.start_ready() == [0]
    off = 1
    finished = 0
    while not w.full:
        w.add(off, "stuck" if off % 10 == 0 else f"k{off}")
        off += 1
        for o in w.start_ready():
            assert o % 10 != 0  # the stuck key's later commands never start
            w.finish(o)
            finished += 1
    assert len(w) == 100 and finished == 100 - 10  # all but the stuck key's 10 commands
    assert w.committable() is None and w.oldest_unfinished() == 0
    with pytest.raises(WindowError, match="window full"):
        w.add(off, "other")
    assert w.finish(0) == 10  # its next command (offset 10) now starts, and the prefix moves
    assert w.start_ready() == [10]


def test_the_capacity_limits_what_starts_not_what_waits() -> None:
    w = SubmitWindow(2, span=10)
    for off in range(5):
        w.add(off, f"k{off}")
    assert w.ready() == [0, 1]
    assert w.start_ready() == [0, 1]
    assert w.ready() == []
    with pytest.raises(WindowError, match="2 commands in flight"):
        w.start(2)
    w.finish(1)
    assert w.start_ready() == [2]
    with pytest.raises(ValueError):
        SubmitWindow(5, span=4)
