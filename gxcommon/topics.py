"""The pipeline's topics, created explicitly with their partitions and configs (no auto-creation).

| topic | partitions | retention | why |
|---|---|---|---|
| gx.commands | 6 | 7 days | keyed by aggregate; 6 partitions let up to 6 submitters share the load |
| gx.commands.direct | 6 | 7 days | the same, from services that produce directly (gxsdk.produce): its own topic, so its principal cannot write gx.commands |
| gx.command-results | 6 | 7 days | keyed like the commands; stream consumers read it |
| gx.commands.dlq | 1 | 30 days | for operators; low volume |
| gx.fabric.events | 6 | forever | projections rebuild from offset 0, so no event may expire |
| gx.projections.dlq | 1 | 30 days | for operators |
| gx.fabric.blocks | 1 | compacted | the block publisher's resume point: one marker per block, written in the block's Kafka transaction |

Partition counts are never changed on an existing topic: adding partitions moves keys to other
partitions and breaks per-key order, so a mismatch is reported, not "fixed".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from gxcommon.record_limits import MAX_RECORD_BYTES
from gxcommon.settings import GxSettings
from gxerrors import GxError

DAY_MS = 24 * 3600 * 1000


class TopicSettings(GxSettings):
    """Topic names (``GX_TOPIC_*``) and partition counts."""

    model_config = SettingsConfigDict(env_prefix="GX_TOPIC_", frozen=True, extra="ignore")

    commands: str = Field(default="gx.commands", min_length=1)
    # The direct path (gxsdk.produce): the submitter consumes it too, and refuses an administrative
    # type on it (streams.submitter.permissions).
    commands_direct: str = Field(default="gx.commands.direct", min_length=1)
    command_results: str = Field(default="gx.command-results", min_length=1)
    commands_dlq: str = Field(default="gx.commands.dlq", min_length=1)
    fabric_events: str = Field(default="gx.fabric.events", min_length=1)
    projections_dlq: str = Field(default="gx.projections.dlq", min_length=1)
    fabric_blocks: str = Field(default="gx.fabric.blocks", min_length=1)
    # One record per `gxctl dlq replay` (gxcommon.dlq_replay), kept a year.
    dlq_replays: str = Field(default="gx.dlq.replays", min_length=1)
    partitions: int = 6


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


class TopicError(GxError):
    """A topic could not be created or differs from its spec in a way we must not fix. Names the topic."""

    def __init__(self, topic: str, problem: str) -> None:
        self.topic = topic
        super().__init__(f"topic {topic}: {problem}")


def specs(t: TopicSettings) -> list[TopicSpec]:
    common = {"cleanup.policy": "delete", "min.insync.replicas": "1", "compression.type": "producer"}
    return [
        TopicSpec(t.commands, t.partitions, {**common, "retention.ms": str(7 * DAY_MS)}),
        TopicSpec(t.commands_direct, t.partitions, {**common, "retention.ms": str(7 * DAY_MS)}),
        TopicSpec(t.command_results, t.partitions, {**common, "retention.ms": str(7 * DAY_MS)}),
        TopicSpec(t.commands_dlq, 1, {**common, "retention.ms": str(30 * DAY_MS)}),
        # Records up to 1 MiB (gxcommon.record_limits: the block publisher's producer allows the same
        # and dead-letters a bigger event; Kafka hands a consumer at least one record whatever its
        # fetch size). The projections' dead-letter topic holds the same, so a dead letter of any
        # published event fits it whole (both of its producers allow the same too).
        TopicSpec(
            t.fabric_events,
            t.partitions,
            {**common, "retention.ms": "-1", "retention.bytes": "-1", "max.message.bytes": str(MAX_RECORD_BYTES)},
        ),
        TopicSpec(
            t.projections_dlq,
            1,
            {**common, "retention.ms": str(30 * DAY_MS), "max.message.bytes": str(MAX_RECORD_BYTES)},
        ),
        TopicSpec(t.fabric_blocks, 1, {**common, "cleanup.policy": "compact", "retention.ms": "-1"}),
        TopicSpec(t.dlq_replays, 1, {**common, "retention.ms": str(365 * DAY_MS)}),
    ]


def apply(bootstrap: str, wanted: list[TopicSpec], timeout: float = 30) -> list[dict[str, Any]]:
    """Create missing topics, set configs on existing ones; one row per topic with the action taken.

    Raises TopicError if a topic exists with another partition count or cannot be created.
    """
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

    from gxcommon.kafka import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = admin.list_topics(timeout=timeout).topics
    rows = []
    to_create = [s for s in wanted if s.name not in existing]
    if to_create:
        futures = admin.create_topics(
            [NewTopic(s.name, num_partitions=s.partitions, replication_factor=1, config=s.config) for s in to_create],
            operation_timeout=timeout,
        )
        for name, fut in futures.items():
            try:
                fut.result(timeout)
            except KafkaException as e:
                if "TOPIC_ALREADY_EXISTS" not in str(e):
                    raise TopicError(name, f"create failed: {e}") from e
            rows.append({"topic": name, "action": "created"})
    for s in wanted:
        if s.name in existing:
            have = len(existing[s.name].partitions)
            if have != s.partitions:
                raise TopicError(
                    s.name,
                    f"has {have} partitions, spec says {s.partitions}; partition counts are "
                    "never changed in place (it would break per-key order)",
                )
            res = ConfigResource(
                ConfigResource.Type.TOPIC,
                s.name,
                incremental_configs=[
                    ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in s.config.items()
                ],
            )
            try:
                admin.incremental_alter_configs([res])[res].result(timeout)
            except KafkaException as e:
                raise TopicError(s.name, f"setting configs failed: {e}") from e
            rows.append({"topic": s.name, "action": "configs set"})
    return rows


def describe(bootstrap: str, names: list[str], timeout: float = 30) -> list[dict[str, Any]]:
    """Partitions, configs we manage, and the end offsets of each named topic (missing ones flagged)."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import ConfigResource

    from gxcommon.kafka import AdminClient, Consumer

    admin = AdminClient({"bootstrap.servers": bootstrap})
    md = admin.list_topics(timeout=timeout).topics
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "gxctl-describe", "enable.auto.commit": False})
    rows = []
    try:
        for name in names:
            if name not in md:
                rows.append({"topic": name, "exists": False})
                continue
            res = ConfigResource(ConfigResource.Type.TOPIC, name)
            cfg = admin.describe_configs([res])[res].result(timeout)
            marks = [
                consumer.get_watermark_offsets(TopicPartition(name, p), timeout=timeout)
                for p in sorted(md[name].partitions)
            ]
            rows.append(
                {
                    "topic": name,
                    "exists": True,
                    "partitions": len(md[name].partitions),
                    "retention.ms": cfg["retention.ms"].value,
                    "records": sum(hi - lo for lo, hi in marks),
                }
            )
    finally:
        consumer.close()
    return rows
