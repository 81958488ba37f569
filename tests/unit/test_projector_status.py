"""Issue 32, defect 9: a stuck group must not look healthy.

On a fresh ledger the organizations group stalled on a partition that had no checkpoint yet, and
`gxctl status` showed it with lag 0 (2 of 6 partitions checkpointed, its last block one behind the
others). Lag counts every partition of the topic for every group, a partition without a checkpoint
counting all its records, and a group behind the others is shown as behind. The database and
Kafka are fakes here.
"""

from __future__ import annotations

from typing import Any

import pytest

from monitoring import overview
from projections import status as st
from projections.groups import GROUPS
from projections.model import Record

TOPIC = "gx.fabric.events"
ENDS = {0: 5, 1: 3, 2: 0, 3: 2, 4: 0, 5: 4}  # high watermarks: partitions 2 and 4 hold nothing


class Conn:
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *a: Any) -> None:
        pass

    def execute(self, sql: str, params: Any = None) -> Any:
        rows = self.rows
        return type("R", (), {"fetchall": lambda self: rows})()


class Kafka:
    def __init__(self, conf: dict[str, Any]) -> None:
        pass

    def list_topics(self, topic: str, timeout: float = 10) -> Any:
        from types import SimpleNamespace

        return SimpleNamespace(topics={topic: SimpleNamespace(partitions=dict.fromkeys(ENDS))})

    def get_watermark_offsets(self, tp: Any, timeout: float = 10, cached: bool = False) -> tuple[int, int]:
        return (0, ENDS[tp.partition])

    def assign(self, tps: list[Any]) -> None:
        self.at = tps[0]

    def poll(self, timeout: float) -> Any:
        return None

    def close(self) -> None:
        pass


def read_range(bootstrap: str, topic: str, partition: int, start: int, end: int) -> list[Record]:
    return [Record(topic, partition, o, b"{}", None, 1000 + o) for o in range(max(start, 0), end)]


def test_every_partition_of_every_group_is_counted_even_without_a_checkpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every group is caught up, except organizations: checkpoints on 2 partitions only.
    rows = [(g, p, ENDS[p] - 1, 7, 0, None) for g in GROUPS if g != "organizations" for p in ENDS if ENDS[p]]
    rows += [("organizations", 0, 4, 7, 0, None), ("organizations", 1, 2, 6, 0, None)]
    monkeypatch.setattr(st.psycopg, "connect", lambda *a, **k: Conn(sorted(rows)))
    monkeypatch.setattr(st, "Consumer", Kafka)
    monkeypatch.setattr(st, "read_range", read_range)
    out = st.status("postgresql://x", "kafka:9092", TOPIC)
    org = {r["partition"]: r for r in out if r["projector"] == "organizations"}
    assert sorted(org) == sorted(ENDS)  # every partition, checkpointed or not
    assert {p: r["lag_events"] for p, r in org.items()} == {0: 0, 1: 0, 2: 0, 3: 2, 4: 0, 5: 4}
    assert org[3]["offset"] == -1 and org[3]["lastBlock"] is None
    assert all(r["lag_events"] == 0 for r in out if r["projector"] != "organizations")


def test_a_group_behind_the_others_is_shown_as_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    def rows(name: str, lag: int, block: int | None) -> list[dict[str, Any]]:
        return [
            {"projector": name, "partition": p, "lastBlock": block, "lag_events": lag if p == 3 else 0, "lag_ms": 0}
            for p in ENDS
        ]

    fake = rows("ledger", 0, 7) + rows("identity", 0, 7) + rows("organizations", 0, 6) + rows("loans", 2, 7)
    monkeypatch.setattr(st, "status", lambda *a: fake)
    view = {r["projector"]: r for r in overview.projectors("postgresql://x", "kafka:9092", TOPIC)}
    assert view["ledger"]["state"] == view["identity"]["state"] == "caught up"
    assert view["organizations"]["state"] == "behind: block 6 of 7"  # its lag counts 0, its block says otherwise
    assert view["loans"]["state"] == "behind: 2 events" and view["loans"]["lag_events"] == 2
    assert "state" in overview.render(
        {k: {"rows": []} for k in ("components", "connector", "consumer_lag", "breaker", "dead_letters")}
        | {"projectors": {"rows": list(view.values())}}
    )
