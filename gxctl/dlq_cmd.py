"""`gxctl dlq list|show|replay`: inspect and re-drive dead letters."""

from __future__ import annotations

import json

import click

from gxcommon import dlq as d
from gxcommon.settings import CliSettings, connection_settings
from gxcommon.tables import rows_table
from gxcommon.topics import TopicSettings
from gxctl.output import emit, json_option

topic_option = click.option("--topic", default=None, help="The dead-letter topic (default: the commands DLQ).")


def _ctx(topic: str | None) -> tuple[str, str]:
    s = connection_settings()
    s.require("kafka_bootstrap")
    return s.kafka_bootstrap or "", topic or TopicSettings().commands_dlq


@click.group("dlq")
def dlq() -> None:
    """Dead-lettered records."""


@dlq.command("list")
@topic_option
@click.option("--limit", default=100, show_default=True)
@json_option
def list_cmd(topic: str | None, limit: int, as_json: bool) -> None:
    """One line per dead letter: where it came from and why."""
    bootstrap, t = _ctx(topic)
    rows = [x.summary() for x in d.read(bootstrap, t, limit, **CliSettings().kafka_timeout())]
    emit(
        rows,
        as_json,
        lambda r: (
            rows_table(r, ["partition", "offset", "errorCode", "source", "key", "reason"]) if r else f"{t}: empty"
        ),
    )


@dlq.command("show")
@click.argument("partition", type=int)
@click.argument("offset", type=int)
@topic_option
@json_option
def show_cmd(partition: int, offset: int, topic: str | None, as_json: bool) -> None:
    """A dead letter in full: headers, key and value."""
    bootstrap, t = _ctx(topic)
    x = d.get(bootstrap, t, partition, offset, **CliSettings().kafka_timeout())
    value = (x.value or b"").decode("utf-8", "replace")
    try:
        value = json.loads(value)
    except ValueError:
        pass
    emit(
        {
            "partition": x.partition,
            "offset": x.offset,
            "key": (x.key or b"").decode("utf-8", "replace"),
            "headers": x.headers,
            "value": value,
        },
        as_json,
        lambda r: json.dumps(r, indent=2),
    )


@dlq.command("replay")
@click.argument("partition", type=int)
@click.argument("offset", type=int)
@topic_option
@click.option("--to", "target", default=None, help="Send to this topic instead of the recorded source topic.")
@json_option
def replay_cmd(partition: int, offset: int, topic: str | None, target: str | None, as_json: bool) -> None:
    """Send a dead letter's original key and value back to its source topic."""
    bootstrap, t = _ctx(topic)
    x = d.get(bootstrap, t, partition, offset, **CliSettings().kafka_timeout())
    written = d.replay(bootstrap, t, x, target)
    emit(
        {"replayed": f"{t}[{partition}]@{offset}", "to": written},
        as_json,
        lambda r: f"replayed {r['replayed']} to {r['to']}",
    )
