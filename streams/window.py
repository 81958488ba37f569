"""The submit window of one partition: many commands in flight, in order per key, safe offsets.

Commands enter in offset order. A command may start when fewer than ``capacity`` commands are in
flight and no earlier command with the same key is unfinished: commands of one aggregate reach
Fabric one after the other, in insertion order; unrelated ones overlap, and a slow command holds
back only the later commands of its own key.

The committable offset is the one just past the longest finished prefix, so Kafka's committed
offset never passes a command that has not finished: a crash replays the uncommitted span (the
chaincode's requestId idempotency makes the replay harmless) and never skips a command. ``span``
bounds that uncommitted span: the window holds at most ``span`` commands from its oldest
unfinished one on (finished ones included), which bounds both the memory a stuck key can pin and
what a crash replays.

Why this holds across rebalances: a window belongs to one assignment of one partition. When the
partition is revoked, the agent drops the window and commits exactly :meth:`committable`; the
next owner starts from that committed offset, so every unfinished command (and perhaps some
finished ones after it) is consumed again. Nothing below the committed offset is unfinished, by
construction, whichever consumer committed it.

Pure: no I/O, no clock. Every operation is O(log n) in the window's size.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict, deque
from dataclasses import dataclass

from streams.errors import StreamsError


@dataclass
class _Entry:
    key: str
    started: bool = False
    finished: bool = False


class WindowError(StreamsError):
    """Misuse of the window (an offset out of order, unknown, or finished twice)."""


class SubmitWindow:
    def __init__(self, capacity: int, span: int | None = None) -> None:
        """``capacity``: commands in flight at once; ``span``: commands held from the oldest
        unfinished one on (default: ``capacity``). ValueError if either is below 1 or the span is
        below the capacity."""
        span = capacity if span is None else span
        if capacity < 1 or span < capacity:
            raise ValueError("capacity must be >= 1 and span >= capacity")
        self.capacity, self.span = capacity, span
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._by_key: dict[str, deque[int]] = {}  # unfinished offsets per key, oldest first
        self._ready: list[int] = []  # heap: offsets heading their key, not started
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
        """No room for another command: the uncommitted span is at its bound."""
        return len(self._entries) >= self.span

    def oldest_unfinished(self) -> int | None:
        """The lowest offset not finished yet (what a commit must not pass), or None."""
        for off, e in self._entries.items():
            if not e.finished:
                return off
        return None

    def add(self, offset: int, key: str) -> None:
        """Admit the next consumed command. Offsets must increase. Raises WindowError if full."""
        if self.full:
            raise WindowError("window full")
        if self._last_added is not None and offset <= self._last_added:
            raise WindowError(f"offset {offset} after {self._last_added}")
        self._entries[offset] = _Entry(key)
        self._last_added = offset
        queue = self._by_key.setdefault(key, deque())
        queue.append(offset)
        if len(queue) == 1:
            heapq.heappush(self._ready, offset)

    def ready(self) -> list[int]:
        """Offsets that may start now, oldest first (their key is free), at most the free slots."""
        return heapq.nsmallest(max(0, self.capacity - self._in_flight), self._ready)

    def start(self, offset: int) -> None:
        """Mark a ready command started. WindowError if it is not ready or no slot is free."""
        e = self._get(offset)
        if e.started:
            raise WindowError(f"offset {offset} already started")
        if self._by_key[e.key][0] != offset:
            raise WindowError(f"offset {offset} is not ready (an earlier command of key {e.key!r} is unfinished)")
        if self._in_flight >= self.capacity:
            raise WindowError(f"offset {offset} cannot start: {self.capacity} commands in flight")
        self._ready.remove(offset)
        heapq.heapify(self._ready)
        e.started = True
        self._in_flight += 1

    def start_ready(self) -> list[int]:
        """Start every command that may start now (oldest first); returns their offsets."""
        out = []
        while self._ready and self._in_flight < self.capacity:
            off = heapq.heappop(self._ready)
            self._entries[off].started = True
            self._in_flight += 1
            out.append(off)
        return out

    def finish(self, offset: int) -> int | None:
        """Mark a started command finished; returns the new committable offset if it moved."""
        e = self._get(offset)
        if not e.started or e.finished:
            raise WindowError(f"offset {offset} is not in flight")
        e.finished = True
        self._in_flight -= 1
        queue = self._by_key[e.key]
        queue.popleft()  # the running command heads its key's queue
        if queue:
            heapq.heappush(self._ready, queue[0])
        else:
            del self._by_key[e.key]
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
