"""`gxctl topics apply|describe`."""

from __future__ import annotations

import click

from gxcommon import topics as t
from gxcommon.settings import CliSettings, connection_settings
from gxcommon.tables import rows_table
from gxctl.output import emit, json_option


@click.group("topics")
def topics() -> None:
    """The pipeline's Kafka topics."""


@topics.command("apply")
@json_option
def apply(as_json: bool) -> None:
    """Create every topic with its partitions and configs (idempotent)."""
    s = connection_settings()
    s.require("kafka_bootstrap")
    rows = t.apply(s.kafka_bootstrap or "", t.specs(t.TopicSettings()), **CliSettings().kafka_timeout())
    emit(rows, as_json, lambda r: rows_table(r, ["topic", "action"]))


@topics.command("describe")
@json_option
def describe(as_json: bool) -> None:
    """Partitions, retention and record counts of each topic."""
    s = connection_settings()
    s.require("kafka_bootstrap")
    names = [spec.name for spec in t.specs(t.TopicSettings())]
    rows = t.describe(s.kafka_bootstrap or "", names, **CliSettings().kafka_timeout())
    emit(rows, as_json, lambda r: rows_table(r, ["topic", "exists", "partitions", "retention.ms", "records"]))
