"""The plain data a projection group works with: records in, statements out. Pure.

A group folds a batch of parsed events into :class:`Stmt` s, SQL with ``{Table}`` placeholders and
its parameters. The writer fills the placeholders with the live tables or a rebuild's shadow
tables, so one fold serves both. Statements run in order, in the batch's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.events import EventEnvelope, EventPayload

UNKNOWN = -2  # the checkpoint a batch assumes for a partition its writer has not seen yet

# A row's ledger position: the event that last set it (migration 007). An UPDATE applies an event
# only when it is newer (``IS_OLDER``, then ``SET_POSITION``, both with the event's position as
# three parameters); an upsert compares with the row it would change (``EXCLUDED_NEWER``).
POSITION = '"lastBlock", "lastTxIndex", "lastEventIndex"'
IS_OLDER = '("lastBlock", "lastTxIndex", "lastEventIndex") < (%s, %s, %s)'
SET_POSITION = '("lastBlock", "lastTxIndex", "lastEventIndex") = (%s, %s, %s)'
EXCLUDED_NEWER = (
    '(t."lastBlock", t."lastTxIndex", t."lastEventIndex")'
    ' < (EXCLUDED."lastBlock", EXCLUDED."lastTxIndex", EXCLUDED."lastEventIndex")'
)
EXCLUDED_POSITION = (
    '"lastBlock" = EXCLUDED."lastBlock", "lastTxIndex" = EXCLUDED."lastTxIndex",'
    ' "lastEventIndex" = EXCLUDED."lastEventIndex"'
)


@dataclass(frozen=True, slots=True)
class Record:
    """One record of gx.fabric.events as the projector received it."""

    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Event:
    record: Record
    env: EventEnvelope
    payload: EventPayload

    @property
    def position(self) -> tuple[int, int, int]:
        return self.env.position


@dataclass(frozen=True, slots=True)
class Stmt:
    sql: str  # with {Table} placeholders for the group's tables
    params: Sequence[Any] = ()


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: Record
    code: str  # UNKNOWN_EVENT_TYPE, UNSUPPORTED_SCHEMA_VERSION, INVALID_EVENT, APPLY_ERROR
    reason: str


@dataclass(frozen=True)
class GroupSpec:
    name: str
    tables: tuple[str, ...]
    handles: frozenset[str]
    fold: Callable[[Sequence[Event]], list[Stmt]]


@dataclass
class Prepared:
    """A batch ready to write: statements, dead letters, and where each partition ends up."""

    records: list[Record]
    after: dict[int, int]  # partition -> checkpoint the fold assumed
    stmts: list[Stmt] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    applied: dict[str, int] = field(default_factory=dict)  # event type -> count
    passed_over: int = 0
    skipped: int = 0
    last_offset: dict[int, int] = field(default_factory=dict)  # partition -> new checkpoint offset
    position: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # partition -> ledger position
    last_commit_ms: float | None = None  # commit time of the newest event (for lag)
