"""The peer's block commits during a window, read from its log: how long the state commits took.

A block's ``state_commit`` (Fabric's kvledger log line) includes the wait for the state database's
write lock, which every endorsement in progress holds for reading while its chaincode runs; a long
one stalls the peer (new endorsements wait behind it). Pure parsing here, the file read at the edge.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SLOW_MS = 250
_LINE = re.compile(
    r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) UTC .*Committed block \[(\d+)\] with (\d+) transaction"
    r".*state_commit=(\d+)ms"
)


def summarise(lines: Iterable[str], start: float, end: float) -> dict[str, Any]:
    """Blocks committed between the epoch seconds ``start`` and ``end``: their count, transactions
    per block, the state commits' total and longest, and how many took ``SLOW_MS`` or more."""
    blocks = txs = slow = total_ms = longest = 0
    for line in lines:
        m = _LINE.search(line)
        if m is None:
            continue
        at = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC).timestamp()
        if not start <= at <= end:
            continue
        ms = int(m.group(4))
        blocks, txs, total_ms = blocks + 1, txs + int(m.group(3)), total_ms + ms
        longest, slow = max(longest, ms), slow + (ms >= SLOW_MS)
    return {
        "blocks": blocks,
        "tx_per_block": round(txs / blocks, 1) if blocks else 0.0,
        "state_commit_s": round(total_ms / 1000, 1),
        "state_commit_max_ms": longest,
        f"state_commits_over_{SLOW_MS}ms": slow,
    }


def mark(log: Path | None = None) -> tuple[Path, int]:
    """Where the peer log (the local stack's by default) ends now: a window reads only what follows."""
    if log is None:
        from stack.settings import StackSettings

        log = StackSettings().log_dir / "peer.log"
    try:
        return log, log.stat().st_size
    except OSError:
        return log, 0


def since(start_mark: tuple[Path, int], start: float, end: float) -> dict[str, Any] | None:
    """:func:`summarise` over the peer log written after ``start_mark`` (the log grows by about
    a gigabyte a day under load, so it is never read whole); None when there is no such log."""
    log, offset = start_mark
    try:
        with open(log, "rb") as f:
            f.seek(offset)
            return summarise((line.decode(errors="replace") for line in f), start, end)
    except OSError:
        return None
