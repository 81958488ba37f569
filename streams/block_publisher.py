"""The block publisher: the peer's blocks (Deliver) to gx.fabric.events, exactly once.

Each block is one Kafka transaction holding its events (streams.block_events) and a marker on
gx.fabric.blocks (key: the channel) that records the block number. On start, and after any failure,
the publisher opens a fresh transactional producer (``init_transactions`` aborts whatever the last
incarnation left open) and reads the last committed marker: Deliver resumes at the next block. So a
crash at any point neither skips nor repeats a block, for consumers that read committed records.

The transactional id is fixed per channel, so a second publisher fences the first; a fenced
publisher stops (exit), it does not fight back.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from gxcommon.kafka import Consumer, Producer
from prometheus_client import Counter, Gauge

from fabric_gateway.blocks import Block
from gxcommon.logs import get
from streams.block_events import block_records, marker, marker_block

log = get("gx.publisher")

BLOCKS = Counter("publisher_blocks_published", "Blocks committed to Kafka")
EVENTS = Counter("publisher_events_published", "Chaincode events committed to Kafka")
INVALID_TXS = Counter("publisher_invalid_transactions", "Transactions skipped as not VALID", ["validation_code"])
LAST_BLOCK = Gauge("publisher_last_block", "Last block committed to Kafka")
MARKER_BLOCK = Gauge("publisher_marker_block", "Last block marker read back from Kafka (committed records only)")
RESTARTS = Counter("publisher_restarts", "Resumes after a failure of the peer stream or of Kafka")


class PublisherFenced(Exception):
    """Another publisher with the same transactional id took over."""


def last_marker(bootstrap: str, topic: str, channel: str, timeout: float = 10) -> int | None:
    """The block of the last committed marker for ``channel``, None if there is none."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"gx-publisher-resume-{uuid.uuid4()}",
                  "enable.auto.commit": False, "isolation.level": "read_committed",
                  "enable.partition.eof": True})
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=timeout)
        window = 64
        while True:
            start = max(low, high - window)
            c.assign([TopicPartition(topic, 0, start)])
            best = None
            while True:
                m = c.poll(timeout)
                if m is None:
                    raise TimeoutError(f"{topic}: no answer reading markers from offset {start}")
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        break
                    raise KafkaException(m.error())
                if (m.key() or b"").decode() == channel:
                    b = marker_block(m.value())
                    if b is not None and (best is None or b > best):
                        best = b
            if best is not None or start <= low:
                return best
            window *= 4
    finally:
        c.close()


@dataclass
class PublisherConfig:
    bootstrap: str
    events_topic: str
    blocks_topic: str
    channel: str
    partitions: int
    transactional_id: str


class Publisher:
    """Publishes blocks from ``blocks(start)`` until cancelled; restarts itself after failures."""

    def __init__(self, cfg: PublisherConfig, blocks: Callable[[int], AsyncIterator[Block]],
                 max_backoff: float = 10.0) -> None:
        self.cfg = cfg
        self._blocks = blocks
        self._max_backoff = max_backoff
        self._producer: Producer | None = None
        self.last_block: int | None = None
        self.connected = False
        self.failures = 0  # consecutive

    def _new_producer(self) -> Producer:
        p = Producer({"bootstrap.servers": self.cfg.bootstrap, "transactional.id": self.cfg.transactional_id,
                      "enable.idempotence": True, "linger.ms": 2, "transaction.timeout.ms": 60000})
        p.init_transactions(30)
        return p

    def _publish(self, block: Block) -> int:
        """One Kafka transaction: the block's records and its marker. Returns the record count."""
        p = self._producer
        assert p is not None
        records = block_records(block, self.cfg.channel, self.cfg.partitions)
        p.begin_transaction()
        for r in records:
            p.produce(self.cfg.events_topic, key=r.key, value=r.value, partition=r.partition, headers=list(r.headers))
        p.produce(self.cfg.blocks_topic, key=self.cfg.channel.encode(),
                  value=marker(self.cfg.channel, block.number, len(records)), partition=0)
        p.commit_transaction(30)
        return len(records)

    def _start(self) -> int:
        """A fresh producer and the block to resume at (blocking)."""
        if self._producer is not None:
            self._producer.flush(1)
        self._producer = self._new_producer()
        last = last_marker(self.cfg.bootstrap, self.cfg.blocks_topic, self.cfg.channel)
        self.last_block = last
        self.connected = True
        return 0 if last is None else last + 1

    async def run(self) -> None:
        backoff = 0.5
        while True:
            try:
                start = await asyncio.to_thread(self._start)
                log.info("publishing blocks", channel=self.cfg.channel, from_block=start)
                async for block in self._blocks(start):
                    for tx in block.transactions:
                        if not tx.valid and tx.header_type == "ENDORSER_TRANSACTION":
                            INVALID_TXS.labels(tx.validation_code).inc()
                    n = await asyncio.to_thread(self._publish, block)
                    self.last_block = block.number
                    self.failures = 0
                    backoff = 0.5
                    BLOCKS.inc()
                    EVENTS.inc(n)
                    LAST_BLOCK.set(block.number)
            except asyncio.CancelledError:
                raise
            except KafkaException as e:
                err = e.args[0] if e.args else None
                if isinstance(err, KafkaError) and err.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
                                                                   KafkaError.INVALID_PRODUCER_EPOCH):
                    raise PublisherFenced(str(err)) from e
                self._failed(e)
            except Exception as e:  # the peer stream broke, or Kafka refused: resume from Kafka's marker
                self._failed(e)
            self.connected = False
            RESTARTS.inc()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    def _failed(self, e: BaseException) -> None:
        self.failures += 1
        log.warning("publisher restarting", channel=self.cfg.channel, error=f"{type(e).__name__}: {e}",
                    last_block=self.last_block)
        if self._producer is not None:
            try:
                self._producer.abort_transaction(5)
            except Exception:  # nothing open, or the producer is unusable: init_transactions cleans up
                pass

    def ready(self) -> str | None:
        if self.failures >= 3:
            return f"{self.failures} failed attempts in a row (see the log)"
        if not self.connected:
            return "producer not initialised yet"
        return None


def install(app: Any, cfg: PublisherConfig, blocks: Callable[[int], AsyncIterator[Block]]) -> Publisher:
    """The publisher as a task of a Faust app (for its web server, /metrics and /readyz)."""
    from gxcommon import web

    pub = Publisher(cfg, blocks)
    web.add_check(app, "publisher", pub.ready)

    # Faust needs a topic to subscribe to; the markers are the natural one. Reading them back
    # (committed records only) shows that what the publisher commits is what consumers see.
    @app.agent(app.topic(cfg.blocks_topic, key_type=bytes, value_type=bytes), name="block-markers")
    async def markers(stream: Any) -> None:
        async for event in stream.events():
            block = marker_block(event.value)
            if block is not None and (event.key or b"").decode() == cfg.channel:
                MARKER_BLOCK.set(block)

    @app.task
    async def publish() -> None:
        try:
            await pub.run()
        except PublisherFenced as e:
            log.error("another block publisher took over; stopping", error=str(e))
            await app.crash(e)

    return pub
