"""The watchdog's decision (pure) and its record of what is desired."""

from __future__ import annotations

from pathlib import Path

from stack.runstate import Desired
from stack.watchdog import MAX_BACKOFF_S, STABLE_S, History, due, restarted


def test_a_dead_process_is_restarted_at_once_then_with_growing_backoff() -> None:
    h = History()
    assert due(0.0, alive=False, h=h)
    restarted(0.0, h)
    assert not due(0.5, alive=False, h=h)  # died again at once: wait 1 s
    assert due(1.0, alive=False, h=h)
    restarted(1.0, h)
    assert not due(2.5, alive=False, h=h) and due(3.0, alive=False, h=h)  # then 2 s
    for i in range(10):
        restarted(3.0 + i, h)
    assert h.restarts == 12 and not due(3.0 + 9 + MAX_BACKOFF_S - 1, alive=False, h=h)
    assert due(3.0 + 9 + MAX_BACKOFF_S, alive=False, h=h)  # never more than the cap


def test_a_process_that_stayed_up_is_restarted_at_once_next_time() -> None:
    h = History()
    restarted(0.0, h)
    restarted(0.5, h)
    assert h.streak == 2
    assert not due(0.5 + STABLE_S, alive=True, h=h) and h.streak == 0
    assert due(0.5 + STABLE_S + 1, alive=False, h=h)
    assert not due(0.0, alive=True, h=History())


def test_desired_names_are_added_and_removed_and_survive_a_reload(tmp_path: Path) -> None:
    Desired.change(tmp_path, add={"kafka", "peer", "submitter"})
    Desired.change(tmp_path, remove={"peer"})
    assert Desired.load(tmp_path).names == {"kafka", "submitter"}
    Desired.change(tmp_path, add={"peer"})
    assert Desired.load(tmp_path).names == {"kafka", "peer", "submitter"}
    Desired.clear(tmp_path)  # `down` of everything
    assert Desired.load(tmp_path).names == set()
