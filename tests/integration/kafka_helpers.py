"""Reading a topic in tests: everything of one tenant, until a condition holds or time runs out."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gxcommon.kafka import Consumer


@dataclass
class Rec:
    partition: int
    offset: int
    key: str
    headers: dict[str, str]
    value: Any
    raw: bytes


class TopicReader:
    """A consumer from the beginning of a topic that collects records matching a filter."""

    def __init__(self, bootstrap: str, topic: str, keep: Callable[[Rec], bool]) -> None:
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4()}",
                           "auto.offset.reset": "earliest", "enable.auto.commit": False})
        self.c.subscribe([topic])
        self.keep = keep
        self.records: list[Rec] = []

    def read_until(self, done: Callable[[list[Rec]], bool], deadline_s: float = 90) -> list[Rec]:
        end = time.monotonic() + deadline_s
        while not done(self.records) and time.monotonic() < end:
            for m in self.c.consume(500, 0.5):
                if m.error():
                    continue
                raw = m.value()
                try:
                    value = json.loads(raw)
                except ValueError:
                    value = None
                rec = Rec(m.partition(), m.offset(), (m.key() or b"").decode(),
                          {k: v.decode() for k, v in (m.headers() or [])}, value, raw)
                if self.keep(rec):
                    self.records.append(rec)
        return self.records

    def close(self) -> None:
        self.c.close()


def of_tenant(tenant: str) -> Callable[[Rec], bool]:
    return lambda r: r.headers.get("tenantId") == tenant
