"""Every Kafka client of the project (confluent-kafka) is made here, so two things hold for all:
- the security settings of this process (``GX_KAFKA_SECURITY_PROTOCOL``, SCRAM user and password,
  the CA file: ConnectionSettings.kafka_security) are applied;
- librdkafka's log lines go through Python logging (logger ``librdkafka``) instead of raw
  ``%4|...|BGQUEUE|...`` lines on stderr: workers log them with everything else, the CLI shows them
  only with ``--verbose`` (gxctl.errors.quiet_kafka)."""

from __future__ import annotations

import logging
from typing import Any

import confluent_kafka
from confluent_kafka import admin

from gxcommon.settings import connection_settings

LOG = logging.getLogger("librdkafka")

# Record headers as confluent-kafka takes them.
Headers = list[tuple[str, str | bytes | None]]


def _conf(conf: dict[str, Any]) -> dict[str, Any]:
    return {**connection_settings().kafka_security(), **conf, "logger": LOG}


def Consumer(conf: dict[str, Any]) -> confluent_kafka.Consumer:
    return confluent_kafka.Consumer(_conf(conf))


def Producer(conf: dict[str, Any]) -> confluent_kafka.Producer:
    return confluent_kafka.Producer(_conf(conf))


def AdminClient(conf: dict[str, Any]) -> admin.AdminClient:
    return admin.AdminClient(_conf(conf))


def events_consumer_conf(
    bootstrap: str, group: str, auto_offset_reset: str, session_timeout_s: float
) -> dict[str, Any]:
    """A loop's consumer of gx.fabric.events (the projection groups', the results writer's corrector):
    committed records only (the topic is written in Kafka transactions, one per block); offsets
    stored and committed by the loop itself, never past what it has settled. Where each partition
    starts is the loop's: ``auto_offset_reset`` only matters when no offset is known or it is out
    of range."""
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "isolation.level": "read_committed",
        "auto.offset.reset": auto_offset_reset,
        "session.timeout.ms": int(session_timeout_s * 1000),
        # A database outage is retried in place: a member that takes no records for that long
        # leaves the group (on_lost) and joins again when it is back.
        "max.poll.interval.ms": 300_000,
    }


def offset_of(m: confluent_kafka.Message) -> int:
    """A consumed record's offset. The stubs allow None, which only a message not yet produced has."""
    off = m.offset()
    assert off is not None, "a consumed record has an offset"
    return off


def partition_of(m: confluent_kafka.Message) -> int:
    """A consumed record's partition (see :func:`offset_of`)."""
    p = m.partition()
    assert p is not None, "a consumed record has a partition"
    return p
