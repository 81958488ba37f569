"""The submit window of one partition: many commands in flight, in order per key, safe offsets.

Commands enter in offset order. A command may start when the window has a free slot and no
earlier command with the same key is unfinished: commands of one aggregate reach Fabric one after
the other, in insertion order; unrelated ones overlap. The committable offset is the one just past
the longest finished prefix: Kafka's committed offset never passes a command that has not finished,
so a crash replays at most the window (the chaincode's requestId idempotency makes the replay
harmless) and never skips a command.

Why this holds across rebalances: a window belongs to one assignment of one partition. When the
partition is revoked, the agent drops the window without committing anything beyond
:meth:`committable`; the next owner starts from that committed offset, so every unfinished command
(and perhaps some finished ones after it) is consumed again. Nothing below the committed offset is
unfinished, by construction, whichever consumer committed it.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Entry:
    key: str
    started: bool = False
    finished: bool = False


class WindowError(Exception):
    """Misuse of the window (an offset out of order, unknown, or finished twice)."""


class SubmitWindow:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._in_flight = 0
        self._last_added: int | None = None
        self._committed: int | None = None  # offset just past the finished prefix

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def full(self) -> bool:
        """No room for another command (finished ones still count until the prefix before them finishes)."""
        return len(self._entries) >= self.capacity

    def add(self, offset: int, key: str) -> None:
        """Admit the next consumed command. Offsets must increase. Raises WindowError if full."""
        if self.full:
            raise WindowError("window full")
        if self._last_added is not None and offset <= self._last_added:
            raise WindowError(f"offset {offset} after {self._last_added}")
        self._entries[offset] = _Entry(key)
        self._last_added = offset

    def ready(self) -> list[int]:
        """Offsets that may start now, oldest first: not started, and no earlier unfinished command of their key."""
        busy: set[str] = set()
        out = []
        for off, e in self._entries.items():
            if e.finished:
                continue
            if not e.started and e.key not in busy:
                out.append(off)
            busy.add(e.key)
        return out

    def start(self, offset: int) -> None:
        e = self._get(offset)
        if e.started:
            raise WindowError(f"offset {offset} already started")
        if offset not in self.ready():
            raise WindowError(f"offset {offset} is not ready (an earlier command of key {e.key!r} is unfinished)")
        e.started = True
        self._in_flight += 1

    def finish(self, offset: int) -> int | None:
        """Mark a started command finished; returns the new committable offset if it moved."""
        e = self._get(offset)
        if not e.started or e.finished:
            raise WindowError(f"offset {offset} is not in flight")
        e.finished = True
        self._in_flight -= 1
        moved = None
        while self._entries:
            first_off, first = next(iter(self._entries.items()))
            if not first.finished:
                break
            self._entries.popitem(last=False)
            self._committed = moved = first_off + 1
        return moved

    def committable(self) -> int | None:
        """The offset to commit (one past the finished prefix), or None if nothing finished yet."""
        return self._committed

    def _get(self, offset: int) -> _Entry:
        try:
            return self._entries[offset]
        except KeyError:
            raise WindowError(f"offset {offset} is not in the window") from None
