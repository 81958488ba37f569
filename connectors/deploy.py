"""Deploying the outbox connector: the publication in Postgres, then the config in Kafka Connect."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors import connect_api
from connectors.publication import ensure_publication
from connectors.render import outbox


def deploy_outbox(dsn: str, pg: Mapping[str, object], connect_url: str, commands_topic: str,
                  timeout: float = 120) -> dict[str, Any]:
    """Create the publication, PUT the config, wait for RUNNING; returns Connect's status.

    Raises ConnectApiError (with the task's trace) if the connector or its task fails.
    """
    doc = outbox(pg, commands_topic)
    ensure_publication(dsn, doc["config"]["publication.name"])
    return connect_api.apply(connect_url, doc["name"], doc["config"], timeout)
