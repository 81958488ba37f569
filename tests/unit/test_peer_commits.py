"""bench.peer_commits: the peer's state commits in a window, from its log lines."""

from __future__ import annotations

from datetime import UTC, datetime

from bench.peer_commits import mark, since, summarise

LINE = (
    "\x1b[34m2026-12-06 07:{m}:{s}.197 UTC 4b70f INFO\x1b[0m [kvledger] \x1b[34;1mcommit\x1b[0m -> [gxchannel] "
    "Committed block [{b}] with {n} transaction(s) in {t}ms (state_validation=0ms block_and_pvtdata_commit=0ms "
    "state_commit={sc}ms) commitHash=[d32e]"
)


def at(m: int, s: int) -> float:
    return datetime(2026, 12, 6, 7, m, s, tzinfo=UTC).timestamp()


def test_only_the_windows_blocks_count_and_slow_state_commits_are_counted() -> None:
    lines = [
        LINE.format(m=20, s=50, b=1, n=9, t=5, sc=900),  # before the window
        LINE.format(m=20, s=52, b=2, n=40, t=300, sc=280),
        "2026-12-06 07:20:53.000 UTC 4b70f INFO [gateway] some other line",
        LINE.format(m=20, s=53, b=3, n=20, t=30, sc=20),
        LINE.format(m=21, s=10, b=4, n=1, t=600, sc=560),
        LINE.format(m=21, s=11, b=5, n=3, t=5, sc=1000),
    ]  # after it
    assert summarise(lines, at(20, 51), at(21, 11) - 0.5) == {
        "blocks": 3,
        "tx_per_block": 20.3,
        "state_commit_s": 0.9,
        "state_commit_max_ms": 560,
        "state_commits_over_250ms": 2,
    }


def test_a_window_without_blocks() -> None:
    assert summarise([], 0, 1) == {
        "blocks": 0,
        "tx_per_block": 0.0,
        "state_commit_s": 0.0,
        "state_commit_max_ms": 0,
        "state_commits_over_250ms": 0,
    }


def test_a_window_reads_only_what_the_log_got_after_its_mark(tmp_path) -> None:
    log = tmp_path / "peer.log"
    log.write_text(LINE.format(m=20, s=52, b=1, n=5, t=900, sc=900) + "\n")
    start = mark(log)
    with open(log, "a") as f:
        f.write(LINE.format(m=20, s=53, b=2, n=7, t=30, sc=300) + "\n")
    # The first block lies inside the times too, but was logged before the mark.
    window = since(start, at(20, 0), at(21, 0))
    assert window is not None and (window["blocks"], window["state_commit_max_ms"]) == (1, 300)
    assert since(mark(tmp_path / "none.log"), 0, 1) is None
