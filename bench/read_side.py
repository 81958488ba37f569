"""The read side in the fault harness (bench.faults): its faults, its recovery, its verdict.

- ``backup`` / ``restore``: every read-model table and ProjectorState copied out in one snapshot,
  and later written back over the live tables while the projectors run (a database restored from
  an older backup).
- ``recovery``: from the fault's end, how long until every event of every block the ledger had
  committed by then is folded by every projector: on each partition, the projector's checkpoint
  has reached a later block, or the partition's last committed record as it was then.
- ``differences``: `gxctl verify` (projections.verify) after the run, with its settle time.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import psycopg
from confluent_kafka import KafkaError, TopicPartition

from gxcommon.kafka import Consumer, offset_of, partition_of
from projections.groups import GROUPS

TABLES = [*sorted({t for g in GROUPS.values() for t in g.tables}), "ProjectorState"]


def backup(dsn: str) -> dict[str, bytes]:
    """Every read-model table's rows and the checkpoints, of one moment."""
    out: dict[str, bytes] = {}
    with psycopg.connect(dsn) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        for t in TABLES:
            with conn.cursor().copy(f'COPY "{t}" TO STDOUT') as cp:
                out[t] = b"".join(bytes(chunk) for chunk in cp)
    return out


def restore(dsn: str, saved: dict[str, bytes], attempts: int = 20) -> None:
    """Replace the live rows with ``saved``, in one transaction. The projectors write meanwhile, so
    the TRUNCATE (which locks the tables one by one) can deadlock with one of their batches or wait
    behind it: tried again (the projector's side retries by itself)."""
    for attempt in range(1, attempts + 1):
        try:
            with psycopg.connect(dsn) as conn:
                conn.execute("SET LOCAL lock_timeout = '5s'")
                conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in TABLES))
                for t, data in saved.items():
                    with conn.cursor().copy(f'COPY "{t}" FROM STDIN') as cp:
                        cp.write(data)
            return
        except (psycopg.errors.DeadlockDetected, psycopg.errors.LockNotAvailable):
            if attempt == attempts:
                raise
            time.sleep(0.2)


def last_records(bootstrap: str, topic: str) -> dict[int, int]:
    """The offset of the last committed record of each partition of ``topic`` (-1 when none)."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-read-side-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
    )
    try:
        parts = sorted(c.list_topics(topic, timeout=10).topics[topic].partitions)
        marks = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in parts}
        out = dict.fromkeys(parts, -1)
        window = 16
        todo = [p for p in parts if marks[p][1] > marks[p][0]]
        while todo:  # transaction markers and aborted records hold offsets too: widen until found
            starts = {p: max(marks[p][0], marks[p][1] - window) for p in todo}
            c.assign([TopicPartition(topic, p, starts[p]) for p in todo])
            eof: set[int] = set()
            while len(eof) < len(todo):
                m = c.poll(10)
                if m is None:
                    raise TimeoutError(f"{topic}: no answer reading the last records")
                p, error = partition_of(m), m.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        eof.add(p)
                        continue
                    raise RuntimeError(str(error))
                out[p] = max(out[p], offset_of(m))
            todo = [p for p in todo if out[p] < 0 and starts[p] > marks[p][0]]
            window *= 4
        return out
    finally:
        c.close()


def positions(dsn: str, topic: str) -> dict[str, dict[int, tuple[int, int]]]:
    """Each projector's checkpoints: {name: {partition: (offset, ledger block)}}."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            'SELECT "projectorName", "partition", "offset", "lastBlock" FROM "ProjectorState" WHERE topic = %s',
            (topic,),
        ).fetchall()
    out: dict[str, dict[int, tuple[int, int]]] = {}
    for name, part, off, block in rows:
        out.setdefault(name, {})[part] = (off, block)
    return out


def published_block() -> int | None:
    """The last block the block publisher has committed to Kafka (its ``publisher_last_block``)."""
    import urllib.request

    from stack.pipeline import Pipeline

    port = Pipeline().ports["block-publisher"]
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("publisher_last_block "):
                    return int(float(line.split()[1]))
    except OSError:
        return None
    return None


def recovery(dsn: str, bootstrap: str, released: float, timeout: float = 300) -> float | None:
    """Seconds from ``released`` (time.time()) until every projector has folded every event of the
    blocks committed by then (block ``H``); None if not within ``timeout``. On each partition, a
    projector is done when its checkpoint has reached block ``H``, or, once the publisher has
    ``H`` on Kafka, the partition's last record: the one before the commit marker at the high
    watermark (found at once), or, after an aborted transaction there, the last committed record
    (read with a consumer, 1-2 s)."""
    from gxcommon.fabric_settings import FabricSettings
    from gxcommon.topics import TopicSettings

    f, topic = FabricSettings(), TopicSettings().fabric_events

    async def height() -> int:
        gw = f.connect()
        try:
            return await gw.chain_height(f.channel)
        finally:
            await gw.close()

    end = time.monotonic() + timeout
    while True:  # the peer may be the fault: keep asking
        try:
            last_block = asyncio.run(height()) - 1
            break
        except Exception:
            if time.monotonic() > end:
                return None
            time.sleep(0.25)
    fast: dict[int, int] = {}  # partition -> high watermark - 2
    exact: dict[int, int] = {}  # partition -> last committed record

    def find_exact() -> None:
        time.sleep(2)  # only needed when the fast answer does not settle it
        while time.monotonic() < end and not exact:
            try:
                exact.update(last_records(bootstrap, topic))
            except Exception:
                time.sleep(0.25)

    c = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"bench-read-side-{uuid.uuid4()}", "enable.auto.commit": False}
    )
    started_exact = False
    try:
        while True:
            if not fast:
                b = published_block()
                if b is not None and b >= last_block:
                    try:
                        parts = c.list_topics(topic, timeout=5).topics[topic].partitions
                        for p in parts:
                            low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=5)
                            fast[p] = high - 2 if high - low >= 2 else -1
                    except Exception:
                        fast.clear()
                    if fast and not started_exact:
                        threading.Thread(target=find_exact, daemon=True).start()
                        started_exact = True
            try:
                have = positions(dsn, topic)
            except psycopg.Error:
                have = {}
            groups = [have.get(g, {}) for g in GROUPS]
            parts_seen = set(fast) | {p for g in groups for p in g}

            def done(g: dict[int, tuple[int, int]], p: int) -> bool:
                off, block = g.get(p, (-1, -1))
                return block >= last_block or (p in fast and off >= fast[p]) or (p in exact and off >= exact[p])

            if all(groups) and all(done(g, p) for g in groups for p in parts_seen):
                return time.time() - released
            if time.monotonic() > end:
                return None
            time.sleep(0.05)
    finally:
        c.close()


def differences(settle: float = 60) -> list[Any]:
    """What `gxctl verify` reports, after up to ``settle`` seconds."""
    from gxcommon.fabric_settings import FabricSettings
    from gxcommon.settings import connection_settings
    from projections.verify import verify_with

    report = asyncio.run(verify_with(connection_settings().dsn(), FabricSettings(), settle))
    return [d.line() for d in report.differences]
