"""The block publisher: the peer's blocks (Deliver) to gx.fabric.events, exactly once.

Each block is one Kafka transaction holding its events (streams.block_events) and a marker on
gx.fabric.blocks (key: the channel) that records the block number. On start, and after any failure,
the publisher opens a fresh transactional producer (``init_transactions`` aborts whatever the last
incarnation left open) and reads the last committed marker: Deliver resumes at the next block. So a
crash at any point neither skips nor repeats a block, for consumers that read committed records.

The transactional id is fixed per channel, so a second publisher fences the first; a fenced
publisher stops (exit), it does not fight back, whether Kafka says so on commit or as the fatal
error a later ``produce()`` raises.

Every block must continue the chain already published: its number follows the last marker's, and
it names the last published block's header hash as its predecessor (markers record the hash).
A block that does not (the peer's ledger was made anew under an old Kafka, or another network
answers) stops the publisher: nothing more is published, /readyz and publisher_chain_broken say
why, and an operator decides (a new network wants new topics).

What cannot be published (streams.block_events: an undecodable transaction, an event over the size
limit) goes to the projections' dead-letter topic in the block's own transaction, and the blocks
after it flow; only the configured chaincode's events are published.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import confluent_kafka
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from prometheus_client import Counter, Gauge

from fabric_gateway.blocks import Block
from gxcommon import web
from gxcommon.kafka import Consumer, Producer
from gxcommon.logs import get
from gxcommon.record_limits import MAX_RECORD_BYTES
from streams.block_events import block_out, continues, marker, marker_of
from streams.errors import StreamsError

log = get("gx.publisher")

BLOCKS = Counter("publisher_blocks_published", "Blocks committed to Kafka")
EVENTS = Counter("publisher_events_published", "Chaincode events committed to Kafka")
INVALID_TXS = Counter("publisher_invalid_transactions", "Transactions skipped as not VALID", ["validation_code"])
LAST_BLOCK = Gauge("publisher_last_block", "Last block committed to Kafka")
MARKER_BLOCK = Gauge("publisher_marker_block", "Last block marker read back from Kafka (committed records only)")
RESTARTS = Counter("publisher_restarts", "Resumes after a failure of the peer stream or of Kafka")
DEAD_LETTERS = Counter(
    "publisher_dead_letters",
    "Ledger events or transactions that could not be published, dead-lettered with their block",
    ["error_code"],
)
FOREIGN = Counter("publisher_foreign_events", "Events of other chaincodes on the channel, not published")
CHAIN_BROKEN = Gauge("publisher_chain_broken", "1 when the peer's blocks do not continue the chain published")
# The producer's size limit: the topics' (gxcommon.record_limits; a record of the block is at most
# MAX_EVENT_BYTES of value, and its dead letters are small descriptions).
MAX_MESSAGE_BYTES = MAX_RECORD_BYTES


class PublisherFenced(StreamsError):
    """Another publisher with the same transactional id took over."""


class ChainBroken(StreamsError):
    """The peer's blocks do not continue the chain already published: ``block`` does not follow the
    last one published; the message says how."""

    def __init__(self, block: int, why: str) -> None:
        self.block = block
        super().__init__(why)


def fenced(err: KafkaError) -> bool:
    """Whether ``err`` says another producer took over the transactional id: the fencing codes,
    or the fatal error ``produce()`` raises once the producer has been fenced."""
    if err.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH):
        return True
    text = (err.str() or "").lower()
    return err.code() == KafkaError._FATAL and ("fenced" in text or "epoch" in text)


def last_marker(bootstrap: str, topic: str, channel: str, timeout: float = 10) -> tuple[int, bytes] | None:
    """(block, header hash) of the last committed marker for ``channel``, None if there is none."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"gx-publisher-resume-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
    )
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
                if (err := m.error()) is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        break
                    raise KafkaException(err)
                if (m.key() or b"").decode() == channel:
                    b = marker_of(m.value())
                    if b is not None and (best is None or b[0] > best[0]):
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
    dlq_topic: str = "gx.projections.dlq"
    chaincode: str = "gxtv3"


class Publisher:
    """Publishes blocks from ``blocks(start)`` until cancelled; restarts itself after failures."""

    def __init__(
        self, cfg: PublisherConfig, blocks: Callable[[int], AsyncIterator[Block]], max_backoff: float = 10.0
    ) -> None:
        self.cfg = cfg
        self._blocks = blocks
        self._max_backoff = max_backoff
        self._producer: confluent_kafka.Producer | None = None
        self.last_block: int | None = None
        self.last: tuple[int, bytes] | None = None  # (number, hash) of the last block published
        self.connected = False
        self.failures = 0  # consecutive
        self.broken: str | None = None

    def _new_producer(self) -> confluent_kafka.Producer:
        p = Producer(
            {
                "bootstrap.servers": self.cfg.bootstrap,
                "transactional.id": self.cfg.transactional_id,
                "enable.idempotence": True,
                "linger.ms": 2,
                "transaction.timeout.ms": 60000,
                "message.max.bytes": MAX_MESSAGE_BYTES,
            }
        )
        p.init_transactions(30)
        return p

    def _publish(self, block: Block) -> int:
        """One Kafka transaction: the block's records, its dead letters and its marker. Returns the
        record count. ChainBroken if the block does not continue the chain published."""
        why = continues(self.last, block)
        if why is not None:
            raise ChainBroken(block.number, why)
        p = self._producer
        assert p is not None
        out = block_out(block, self.cfg.channel, self.cfg.partitions, self.cfg.chaincode)
        p.begin_transaction()
        for r in out.records:
            p.produce(self.cfg.events_topic, key=r.key, value=r.value, partition=r.partition, headers=list(r.headers))
        for _code, r in out.dead:
            p.produce(self.cfg.dlq_topic, key=r.key, value=r.value, partition=0, headers=list(r.headers))
        p.produce(
            self.cfg.blocks_topic,
            key=self.cfg.channel.encode(),
            value=marker(self.cfg.channel, block.number, len(out.records), block.hash),
            partition=0,
        )
        p.commit_transaction(30)
        self.last = (block.number, block.hash)
        for code, r in out.dead:
            DEAD_LETTERS.labels(code).inc()
            log.error(
                "ledger event not published, dead-lettered",
                block=block.number,
                errorCode=code,
                reason=dict(r.headers)["reason"].decode()[:300],
            )
        FOREIGN.inc(out.skipped_foreign)
        return len(out.records)

    def _start(self) -> int:
        """A fresh producer and the block to resume at (blocking)."""
        if self._producer is not None:
            self._producer.flush(1)
        self._producer = self._new_producer()
        self.last = last_marker(self.cfg.bootstrap, self.cfg.blocks_topic, self.cfg.channel)
        self.last_block = None if self.last is None else self.last[0]
        if self.last_block is not None:  # on Kafka already: an idle ledger may bring no block for long
            LAST_BLOCK.set(self.last_block)
        self.connected = True
        return 0 if self.last is None else self.last[0] + 1

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
            except ChainBroken as e:
                self._failed(e)
                self.broken = str(e)
                CHAIN_BROKEN.set(1)
                log.error("the peer's blocks do not continue the chain published; publishing stopped", reason=str(e))
                return
            except KafkaException as e:
                err = e.args[0] if e.args else None
                if isinstance(err, KafkaError) and fenced(err):
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
        log.warning(
            "publisher restarting",
            channel=self.cfg.channel,
            error=f"{type(e).__name__}: {e}",
            last_block=self.last_block,
        )
        if self._producer is not None:
            try:
                self._producer.abort_transaction(5)
            except Exception:  # nothing open, or the producer is unusable: init_transactions cleans up
                pass

    def ready(self) -> str | None:
        if self.broken:
            return f"stopped: {self.broken}"
        if self.failures >= 3:
            return f"{self.failures} failed attempts in a row (see the log)"
        if not self.connected:
            return "producer not initialised yet"
        return None


def install(app: Any, cfg: PublisherConfig, blocks: Callable[[int], AsyncIterator[Block]]) -> Publisher:
    """The publisher as a task of a Faust app (for its web server, /metrics and /readyz)."""
    pub = Publisher(cfg, blocks)
    web.add_check(app, "publisher", pub.ready)

    # Faust needs a topic to subscribe to; the markers are the natural one. Reading them back
    # (committed records only) shows that what the publisher commits is what consumers see.
    @app.agent(app.topic(cfg.blocks_topic, key_type=bytes, value_type=bytes), name="block-markers")
    async def markers(stream: Any) -> None:
        async for event in stream.events():
            m = marker_of(event.value)
            if m is not None and (event.key or b"").decode() == cfg.channel:
                MARKER_BLOCK.set(m[0])

    @app.task
    async def publish() -> None:
        try:
            await pub.run()
        except PublisherFenced as e:
            log.error("another block publisher took over; stopping", error=str(e))
            await app.crash(e)

    return pub
