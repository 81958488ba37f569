"""`gxctl projections status`."""

from __future__ import annotations

import click

from gxcommon.settings import connection_settings
from gxcommon.topics import TopicSettings
from gxctl.output import emit, handle_errors, json_option, rows_table
from projections.status import status as projector_status


@click.group("projections")
def projections() -> None:
    """The read-model projectors."""


@projections.command("status")
@json_option
@handle_errors
def status_cmd(as_json: bool) -> None:
    """Each projector's checkpoint per partition and its lag in events and milliseconds."""
    s = connection_settings()
    s.require("pg_dsn", "kafka_bootstrap")
    rows = projector_status(s.dsn(), s.kafka_bootstrap or "", TopicSettings().fabric_events)
    emit(rows, as_json, lambda r: rows_table(r, ["projector", "partition", "offset", "lastBlock", "lastEventIndex",
                                                  "lag_events", "lag_ms"]) if r else "no projector has a checkpoint yet")
