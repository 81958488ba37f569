"""Corrections from the block stream, the pure core of streams.corrector (issue 30, defect 4).

A submitter may report a command FAILED while one of its transactions is still on its way: Fabric
gives a transaction no expiry, so a last re-check that times out cannot rule a commit out. When
such a transaction commits VALID, the chaincode emits the command's one event (every function that
applies a command emits exactly one, carrying its requestId; a recorded rejection emits none), and
the block publisher puts it on gx.fabric.events with the transaction's id and block, and the tenant
the chaincode keyed the command by (header ``tenantId``).

A :class:`Sighting` is such an event. It is matched to the outbox row of its (tenant, requestId)
(the outbox's unique key), and :func:`judge` says what to do:

- the row is FAILED and names the transaction (its ``fabricTxId`` or an attempt's ``txId``): the
  command was applied by it; :func:`correction` is the CONFIRMED result that corrects the row;
- the row is not final yet (PENDING, LOCKED, SUBMITTED): wait. The event often arrives before the
  submitter's result is written (both follow the commit), and the result may yet be a FAILED;
- the row is FAILED and does not name the transaction: *unproven*. The ledger applied (tenant,
  requestId) in a transaction this row never reported: most often a replay's (`gxctl dlq
  replay`), whose own CONFIRMED is on its way, so it is waited for too; else one sent by a
  submitter that crashed before reporting it. Only the transaction ties a row to a commit, so it
  is never corrected from here, and flagged if still so when the wait ends. A FAILED row saying
  IDEMPOTENCY_CONFLICT is explained (another command holds its ids on the ledger) and left;
- otherwise (CONFIRMED, no row: not an outbox command) there is nothing to do.

An event published before the tenant header existed (``tenant`` None) is matched on the requestId
alone, and only to FAILED rows (the lookup has no index for more): the transaction then tells which
tenant's row it is, and rows of other tenants are neither corrected nor flagged.

:class:`Watch` keeps the sightings still waiting, and says which offsets may be committed: never
past one of them, so a restart reads it again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from schemas.envelopes import CommandResult, ResultStatus
from streams.outcome import ErrorCode

NOT_FINAL = ("PENDING", "LOCKED", "SUBMITTED")


@dataclass(frozen=True, slots=True)
class Sighting:
    """A committed (VALID) transaction's event naming a command, and where it was read."""

    partition: int
    offset: int
    request_id: str
    tx_id: str
    block: int
    tenant: str | None = None  # None: published without the tenant header

    @property
    def key(self) -> tuple[str | None, str]:
        return (self.tenant, self.request_id)


def sighting_of(partition: int, offset: int, headers: Mapping[str, bytes], value: bytes) -> Sighting | None:
    """The command a record of gx.fabric.events names, from its headers (its envelope when they are
    missing); None for an event naming no command or a record that is not an event."""
    rid, tx, block = headers.get("requestId"), headers.get("txId"), headers.get("block")
    tenant = (headers.get("tenantId") or b"").decode(errors="replace") or None
    try:
        if rid and tx and block:
            return Sighting(partition, offset, rid.decode(), tx.decode(), int(block), tenant)
        env = json.loads(value)
    except ValueError:  # a header or a value that is not what the block publisher writes
        return None
    if not isinstance(env, dict):
        return None
    rid_, tx_, block_ = env.get("requestId"), env.get("txId"), env.get("block")
    if not (isinstance(rid_, str) and rid_ and isinstance(tx_, str) and tx_ and isinstance(block_, int)):
        return None
    return Sighting(partition, offset, rid_, tx_, block_, None)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """What the corrector reads of an outbox row."""

    id: str
    tenant: str
    request_id: str
    key: str  # partitionKey: the command's Kafka key, and its results'
    status: str
    error_code: str | None = None
    tx_ids: frozenset[str] = frozenset()  # every transaction the submitter reported for it
    attempts: int = 0


def tx_ids(fabric_tx_id: str | None, attempt_log: Any) -> frozenset[str]:
    """The transactions a row names: its fabricTxId and each attempt's txId (attemptLog, as stored)."""
    out = {fabric_tx_id} if fabric_tx_id else set()
    if isinstance(attempt_log, list):
        out.update(a["txId"] for a in attempt_log if isinstance(a, dict) and isinstance(a.get("txId"), str))
    return frozenset(out)


@dataclass(frozen=True)
class Judgement:
    correct: tuple[OutboxRow, ...] = ()  # FAILED rows the sighting's transaction applied
    unproven: tuple[OutboxRow, ...] = ()  # FAILED rows of its (tenant, requestId) not naming it
    wait: bool = False  # a row of its command is not final yet, or unproven

    @property
    def settled(self) -> bool:
        return not self.correct and not self.wait


def judge(s: Sighting, rows: Iterable[OutboxRow]) -> Judgement:
    """What ``s`` means for ``rows`` (any rows: those of its command are picked out)."""
    mine = [r for r in rows if r.request_id == s.request_id and (s.tenant is None or r.tenant == s.tenant)]
    failed = [r for r in mine if r.status == "FAILED"]
    unproven = (
        tuple(r for r in failed if s.tx_id not in r.tx_ids and r.error_code != ErrorCode.IDEMPOTENCY_CONFLICT)
        if s.tenant is not None
        else ()
    )
    return Judgement(
        correct=tuple(r for r in failed if s.tx_id in r.tx_ids),
        unproven=unproven,
        wait=bool(unproven) or any(r.status in NOT_FINAL for r in mine),
    )


def correction(row: OutboxRow, s: Sighting) -> CommandResult:
    """The CONFIRMED result correcting ``row``: ``s``'s transaction applied it. It keeps the row's
    attempt count and carries no attempt log (the results writer keeps the row's)."""
    return CommandResult(
        commandId=row.id,
        requestId=row.request_id,
        tenantId=row.tenant,
        key=row.key,
        status=ResultStatus.CONFIRMED,
        fabricTxId=s.tx_id,
        commitBlock=s.block,
        validationCode="VALID",
        attempts=row.attempts,
    )


class Watch:
    """The sightings not settled yet, by partition and offset, and where each partition was read
    from and up to: the offsets that may be committed (up to the first unsettled sighting)."""

    def __init__(self) -> None:
        self._waiting: dict[int, dict[int, tuple[Sighting, float]]] = {}
        self._start: dict[int, int] = {}  # partition -> the first offset read (its committed offset)
        self._next: dict[int, int] = {}  # partition -> the offset after the last one read

    def __len__(self) -> int:
        return sum(len(w) for w in self._waiting.values())

    def read(self, partition: int, offset: int) -> None:
        """A record was read (a sighting or not)."""
        self._start.setdefault(partition, offset)
        self._next[partition] = max(self._next.get(partition, offset), offset + 1)

    def add(self, s: Sighting, now: float) -> None:
        self._waiting.setdefault(s.partition, {})[s.offset] = (s, now)

    def settle(self, s: Sighting) -> None:
        self._waiting.get(s.partition, {}).pop(s.offset, None)

    def pending(self) -> list[Sighting]:
        """Every unsettled sighting, each partition's in offset order."""
        return [s for p in sorted(self._waiting) for _, (s, _) in sorted(self._waiting[p].items())]

    def expired(self, now: float, watch_s: float) -> list[Sighting]:
        """Remove and return the sightings added more than ``watch_s`` before ``now``."""
        out = [s for s in self.pending() if now - self._waiting[s.partition][s.offset][1] > watch_s]
        for s in out:
            self.settle(s)
        return out

    def committable(self) -> dict[int, int]:
        """partition -> the offset to commit (the first unsettled sighting's, else the one after the
        last record read), for partitions read past where they were read from."""
        out = {}
        for p, nxt in self._next.items():
            waiting = self._waiting.get(p)
            at = min(waiting) if waiting else nxt
            if at > self._start[p]:
                out[p] = at
        return out

    def forget(self, partitions: Iterable[int]) -> None:
        """Partitions no longer ours: their next owner reads from their committed offsets."""
        for p in partitions:
            self._waiting.pop(p, None)
            self._start.pop(p, None)
            self._next.pop(p, None)
