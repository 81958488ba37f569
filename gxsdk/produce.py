"""Producing commands straight to Kafka, for services without a database.

They go to the direct path's topic, gx.commands.direct (:data:`DIRECT_TOPIC`; GX_TOPIC_COMMANDS_DIRECT
in a deployment), which the submitter consumes beside gx.commands. Only Kafka Connect writes
gx.commands, from the outbox, where each row's service is proved by its Postgres role; a direct
producer names its service itself, so with the submitter's service check on (the secure mode) an
administrative command type sent here is REJECTED (SERVICE_NOT_ALLOWED): administrative commands
come only through the outbox.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Producer

from gxcommon import kafka
from schemas.envelopes import CommandEnvelope
from schemas.routing import partition_key

DIRECT_TOPIC = "gx.commands.direct"


def command_producer(bootstrap: str, **extra: Any) -> Producer:
    """An idempotent producer (acks=all, no reordering or duplicates on retry), logged in as this
    process's GX_KAFKA_* settings say (SCRAM over TLS: in the secure stack the principal
    ``gx-producer``, allowed to write gx.commands.direct only), as every Kafka client of the project.

    Its partitioner is murmur2, the Java client's (and so Kafka Connect's), so a key has the same
    partition number on both commands topics. Order is per key within one path: a service that
    needs one command after another on the same aggregate sends both the same way. Raises
    SettingsError naming a missing security setting.
    """
    return kafka.Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "partitioner": "murmur2_random",
            **extra,
        }
    )


def produce(
    producer: Producer,
    topic: str = DIRECT_TOPIC,
    *,
    tenant_id: str,
    service: str,
    command_type: str,
    request_id: str,
    payload: dict[str, Any],
    correlation_id: str | None = None,
    command_id: str | None = None,
    on_delivery: Any = None,
) -> CommandEnvelope:
    """Validate, key and send one command; returns the envelope sent (call ``producer.flush()`` to wait).

    The record has the same key, value and headers as one written by the outbox connector.
    There is no outbox row, so deduplication by requestId happens downstream (the chaincode).
    Raises PayloadError naming the bad field.
    """
    env = CommandEnvelope(
        id=command_id or str(uuid.uuid4()),
        tenantId=tenant_id,
        service=service,
        commandType=command_type,
        requestId=request_id,
        payload=payload,
        key=partition_key(command_type, payload),
        createdAt=datetime.now(UTC),
        correlationId=correlation_id,
    )
    value = env.model_dump(mode="json")
    producer.produce(
        topic,
        key=env.key.encode(),
        value=json.dumps(value, separators=(",", ":")).encode(),
        headers=env.headers(),
        on_delivery=on_delivery,
    )
    return env
