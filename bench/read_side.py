"""The read side in the fault harness (bench.faults): its faults, its recovery, its verdict.

- ``backup`` / ``restore``: every read-model table and ProjectorState copied out in one snapshot,
  and later written back over the live tables while the projectors run (a database restored from
  an older backup).
- ``recovery``: from the fault's end, how long until every event of every block the ledger had
  committed by then is folded by every projector: the publisher's marker reaches that block, then
  each projector's checkpoint reaches the last committed record of each partition as it was then.
- ``differences``: `gxctl verify` (projections.verify) after the run, with its settle time.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import psycopg
from confluent_kafka import KafkaError, TopicPartition

from gxcommon.kafka import Consumer
from projections.groups import GROUPS

TABLES = sorted({t for g in GROUPS.values() for t in g.tables}) + ["ProjectorState"]


def backup(dsn: str) -> dict[str, bytes]:
    """Every read-model table's rows and the checkpoints, of one moment."""
    out: dict[str, bytes] = {}
    with psycopg.connect(dsn) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        for t in TABLES:
            with conn.cursor().copy(f'COPY "{t}" TO STDOUT') as cp:
                out[t] = b"".join(bytes(chunk) for chunk in cp)
    return out


def restore(dsn: str, saved: dict[str, bytes]) -> None:
    """Replace the live rows with ``saved``, in one transaction."""
    with psycopg.connect(dsn) as conn:
        conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in TABLES))
        for t, data in saved.items():
            with conn.cursor().copy(f'COPY "{t}" FROM STDIN') as cp:
                cp.write(data)


def last_records(bootstrap: str, topic: str) -> dict[int, int]:
    """The offset of the last committed record of each partition of ``topic`` (-1 when none)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-read-side-{uuid.uuid4()}",
                  "enable.auto.commit": False, "isolation.level": "read_committed", "enable.partition.eof": True})
    try:
        parts = sorted(c.list_topics(topic, timeout=10).topics[topic].partitions)
        out: dict[int, int] = {}
        for p in parts:
            low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            window, last = 16, -1
            while True:  # transaction markers and aborted records hold offsets too: widen until found
                start = max(low, high - window)
                c.assign([TopicPartition(topic, p, start)])
                while True:
                    m = c.poll(10)
                    if m is None:
                        raise TimeoutError(f"{topic}[{p}]: no answer from offset {start}")
                    if m.error():
                        if m.error().code() == KafkaError._PARTITION_EOF:
                            break
                        raise RuntimeError(str(m.error()))
                    last = max(last, m.offset())
                if last >= 0 or start <= low:
                    break
                window *= 4
            out[p] = last
        return out
    finally:
        c.close()


def checkpoints(dsn: str, topic: str) -> dict[str, dict[int, int]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute('SELECT "projectorName", "partition", "offset" FROM "ProjectorState" WHERE topic = %s',
                            (topic,)).fetchall()
    out: dict[str, dict[int, int]] = {}
    for name, part, off in rows:
        out.setdefault(name, {})[part] = off
    return out


def recovery(dsn: str, bootstrap: str, released: float, timeout: float = 300) -> float | None:
    """Seconds from ``released`` (time.time()) until every projector has folded every event of the
    blocks committed by then; None if not within ``timeout``."""
    from gxcommon.fabric_settings import FabricSettings
    from gxcommon.topics import TopicSettings
    from streams.block_publisher import last_marker

    f, topics = FabricSettings(), TopicSettings()

    async def height() -> int:
        gw = f.connect()
        try:
            return await gw.chain_height(f.channel)
        finally:
            await gw.channel.close()

    end = time.monotonic() + timeout
    last_block = asyncio.run(height()) - 1
    while True:  # the publisher has every block up to then on Kafka
        try:
            m = last_marker(bootstrap, topics.fabric_blocks, f.channel)
        except Exception:  # noqa: BLE001 (the broker may be the fault; keep asking)
            m = None
        if m is not None and m[0] >= last_block:
            break
        if time.monotonic() > end:
            return None
        time.sleep(0.25)
    while True:
        try:
            want = last_records(bootstrap, topics.fabric_events)
            break
        except Exception:  # noqa: BLE001
            if time.monotonic() > end:
                return None
            time.sleep(0.25)
    names = {f"projector-{g}" for g in GROUPS} | {g for g in GROUPS}
    while True:
        try:
            have = checkpoints(dsn, topics.fabric_events)
        except psycopg.Error:
            have = {}
        groups = {n: parts for n, parts in have.items() if n in names}
        if len(groups) >= len(GROUPS) and all(
                parts.get(p, -1) >= off for parts in groups.values() for p, off in want.items()):
            return time.time() - released
        if time.monotonic() > end:
            return None
        time.sleep(0.25)


def differences(settle: float = 60) -> list[Any]:
    """What `gxctl verify` reports, after up to ``settle`` seconds."""
    from gxcommon.fabric_settings import FabricSettings
    from gxcommon.settings import connection_settings
    from projections.verify import verify

    f, s = FabricSettings(), connection_settings()

    async def go() -> Any:
        gw = f.connect()
        try:
            return await verify(s.dsn(), gw, f.channel, f.chaincode, settle)
        finally:
            await gw.channel.close()

    return [d.line() for d in asyncio.run(go()).differences]
