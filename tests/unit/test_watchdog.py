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


def test_restart_times_of_another_boot_do_not_hold_a_restart_back() -> None:
    """Issue 30, item 7: the watchdog's times are monotonic, which start again at a reboot; a
    process restarted often just before the reboot was then held back until the old uptime was
    reached again. A history of another boot keeps its counts and forgets its times."""
    from stack.watchdog import carried_over

    before = History(restarts=9, last_restart=900_000.0, streak=7, boot_id="old-boot")
    now = carried_over(before, "new-boot")
    assert (now.restarts, now.last_restart, now.streak, now.boot_id) == (9, None, 0, "new-boot")
    assert due(5.0, alive=False, h=now)  # 5 s after the reboot: at once
    same = carried_over(History(restarts=2, last_restart=100.0, streak=2, boot_id="b"), "b")
    assert (same.last_restart, same.streak) == (100.0, 2)
    older = carried_over(History(restarts=3, last_restart=50.0, streak=1), "b")  # written before boot ids
    assert (older.restarts, older.last_restart, older.streak) == (3, None, 0)


def test_a_restart_records_the_boot_it_happened_in() -> None:
    from stack.procs import boot_id

    h = History()
    restarted(1.0, h)
    assert h.boot_id == boot_id()
