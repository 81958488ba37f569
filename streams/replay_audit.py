"""Dead-letter replays as a metric, exported by the results writer (the worker that also exports
the outbox's replication slots): ``dlq_replays_recorded`` is the number of replays ever recorded on
the audit topic (its end offset; gxcommon.dlq_replay writes one record per `gxctl dlq replay`), so
``increase(dlq_replays_recorded[1h]) > 0`` says someone replayed dead letters in the last hour;
`gxctl dlq list --topic gx.dlq.replays` lists who replayed what, when and to where."""

from __future__ import annotations

import asyncio
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from prometheus_client import Gauge

from gxcommon import logs
from gxcommon.kafka import Consumer

log = logs.get(__name__)

REPLAYS = Gauge("dlq_replays_recorded", "Dead-letter replays recorded on the audit topic, ever (its end offset)")


def recorded(bootstrap: str, topic: str, timeout: float = 5) -> int:
    """The audit topic's end offset summed over its partitions (0 while the topic does not exist).
    KafkaException if Kafka does not answer or refuses the topic (an ACL denial is not "no replay")."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "gx-replay-audit", "enable.auto.commit": False})
    try:
        md = c.list_topics(topic, timeout=timeout).topics.get(topic)
        if md is None or (md.error is not None and md.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART):
            return 0
        if md.error is not None:
            raise KafkaException(md.error)
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1] for p in md.partitions)
    finally:
        c.close()


def install(app: Any, bootstrap: str, topic: str, every: float = 15.0) -> None:
    @app.timer(every)
    async def dlq_replays() -> None:
        try:
            REPLAYS.set(await asyncio.get_running_loop().run_in_executor(None, recorded, bootstrap, topic))
        except KafkaException as e:  # /readyz reports Kafka; here the gauge keeps its value
            log.warning("dead-letter replays not counted", topic=topic, error=str(e))
