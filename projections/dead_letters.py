"""What a projection dead letter looks like on gx.projections.dlq. Pure.

A dead letter is the refused record itself (its key and value) with headers saying why and where
it came from (gxcommon.dlq.dead_letter_headers), the group that refused it (``projector``) and,
when the value is an event envelope, the event (``txId``, ``eventIndex``, ``block``), so that
`gxctl projections wait` can tell a command's event was dead-lettered.

A record that would not fit its dead-letter topic (``MAX_RECORD_BYTES`` with the key, headers and
a record's own overhead) is dead-lettered as a reference instead: the same key and headers, plus
``valueOmitted`` (the value's size), and a JSON value naming the record (topic, partition,
offset), the reason and the event. `gxctl dlq replay` of a reference sends the original record,
read from where it names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gxcommon.dlq import dead_letter_headers
from gxcommon.record_limits import MAX_REASON_BYTES, MAX_RECORD_BYTES, RECORD_OVERHEAD_BYTES
from projections.model import DeadLetter


@dataclass(frozen=True)
class Outgoing:
    """One record to produce on the dead-letter topic, and the dead letter it stands for."""

    letter: DeadLetter
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]

    @property
    def size(self) -> int:
        return len(self.key or b"") + len(self.value) + sum(len(k) + len(v) for k, v in self.headers.items())


def cut(reason: str, limit: int = MAX_REASON_BYTES) -> str:
    """``reason`` in at most ``limit`` bytes of UTF-8 (never a broken character)."""
    return reason.encode()[:limit].decode("utf-8", "ignore")


def event_of(value: bytes) -> dict[str, Any]:
    """txId, eventIndex, block and name of an event envelope; {} if ``value`` is not one."""
    try:
        env = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(env, dict):
        return {}
    return {k: env[k] for k in ("txId", "eventIndex", "block", "name") if isinstance(env.get(k), str | int)}


def whole(d: DeadLetter, projector: str) -> Outgoing:
    """The dead letter as the record itself, or :func:`reference` if that would not fit."""
    r = d.record
    headers = {
        **dead_letter_headers(cut(d.reason), d.code, r.topic, r.partition, r.offset, 0),
        "projector": projector.encode(),
    }
    headers.update({k: str(v).encode() for k, v in event_of(r.value).items() if k != "name"})
    out = Outgoing(d, r.key, r.value, headers)
    return out if fits(out) else reference(out)


def reference(out: Outgoing) -> Outgoing:
    """``out`` with its value replaced by a reference to the original record."""
    r = out.letter.record
    doc = {
        "reference": {"topic": r.topic, "partition": r.partition, "offset": r.offset},
        "bytes": len(r.value),
        "errorCode": out.letter.code,
        "reason": cut(out.letter.reason),
        **event_of(r.value),
    }
    return Outgoing(
        out.letter, out.key, json.dumps(doc).encode(), {**out.headers, "valueOmitted": str(len(r.value)).encode()}
    )


def fits(out: Outgoing, limit: int = MAX_RECORD_BYTES) -> bool:
    return out.size + RECORD_OVERHEAD_BYTES <= limit
