"""Turning a batch of records into what one transaction writes. Pure (no I/O).

Records at or below ``after`` (the checkpoint the batch is assumed to follow) are skipped. Each
fresh record moves its partition's checkpoint, whatever becomes of it: folded, passed over (a known
event another group folds), or dead-lettered with the reason (not JSON or a bad envelope, an
unknown event type, a newer schema version, a payload that fails its schema).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from projections.model import UNKNOWN, DeadLetter, Event, GroupSpec, Prepared, Record
from schemas.errors import PayloadError
from schemas.events import (
    EVENTS,
    UnknownEventType,
    UnsupportedSchemaVersion,
    parse_envelope,
    parse_fast,
    parse_payload,
)


def classify(e: PayloadError) -> str:
    if isinstance(e, UnknownEventType):
        return "UNKNOWN_EVENT_TYPE"
    if isinstance(e, UnsupportedSchemaVersion):
        return "UNSUPPORTED_SCHEMA_VERSION"
    return "INVALID_EVENT"


def _advance(position: dict[int, tuple[int, int, int]], partition: int, pos: tuple[int, int, int]) -> None:
    # A partition's ledger position is the newest it has seen: an old event delivered again at the
    # end of the partition (a dead-letter replay) does not move it back.
    if partition not in position or position[partition] < pos:
        position[partition] = pos


def prepare(group: GroupSpec, records: Sequence[Record], after: Mapping[int, int]) -> Prepared:
    """The statements, dead letters and new checkpoints of ``records`` (offset order per partition)."""
    out = Prepared(list(records), {p: after.get(p, UNKNOWN) for p in {r.partition for r in records}})
    events: list[Event] = []
    newest = None
    for r in records:
        if r.offset <= out.after[r.partition]:
            out.skipped += 1
            continue
        out.last_offset[r.partition] = r.offset
        fast = parse_fast(r.value)
        if fast is not None:
            env, payload = fast
            _advance(out.position, r.partition, env.position)
            if env.name not in group.handles:
                out.passed_over += 1
                continue
        else:  # the slow path says what is wrong, and whose problem it is
            try:
                env = parse_envelope(r.value)
            except PayloadError as e:
                out.dead.append(DeadLetter(r, "INVALID_EVENT", str(e)))
                continue
            _advance(out.position, r.partition, env.position)
            if env.name in EVENTS and env.name not in group.handles:
                out.passed_over += 1  # the group that folds it dead-letters it
                continue
            try:
                payload = parse_payload(env)
            except PayloadError as e:
                out.dead.append(DeadLetter(r, classify(e), str(e)))
                continue
        events.append(Event(r, env, payload))
        out.applied[env.name] = out.applied.get(env.name, 0) + 1
        if newest is None or env.commitTime > newest:
            newest = env.commitTime
    out.stmts = group.fold(events)
    out.last_commit_ms = newest.timestamp() * 1000 if newest is not None else None
    return out


def dead_only(records: Sequence[Record], after: Mapping[int, int], code: str, reason: str) -> Prepared:
    """A batch whose records are all dead-lettered with one reason (a record the database refused)."""
    out = Prepared(list(records), {p: after.get(p, UNKNOWN) for p in {r.partition for r in records}})
    for r in records:
        if r.offset > out.after[r.partition]:
            out.last_offset[r.partition] = r.offset
            out.dead.append(DeadLetter(r, code, reason))
        else:
            out.skipped += 1
    return out
