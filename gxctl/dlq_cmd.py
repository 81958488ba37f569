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
    x = d.get(bootstrap, t, partition, offset, CliSettings().kafka_timeout().get("timeout", 10))
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
@json_option
def replay_cmd(partition: int, offset: int, topic: str | None, as_json: bool) -> None:
    """Send the record a dead letter names back to where it came from (its source topic and
    partition, which its dead-letter topic must collect), as read back from there; recorded on
    gx.dlq.replays and in a log line (gxcommon.dlq_replay)."""
    import getpass
    import socket
    from datetime import UTC, datetime

    from gxcommon import dlq_replay
    from gxcommon.logs import get

    bootstrap, t = _ctx(topic)
    s = CliSettings()
    conf = s.kafka_replay_security()
    principal = conf.get("sasl.username") or s.kafka_username or "(no Kafka login: PLAINTEXT)"
    who = dlq_replay.Who(principal, getpass.getuser(), socket.gethostname())
    record = dlq_replay.replay(
        bootstrap, conf, TopicSettings(), t, partition, offset, who, datetime.now(UTC), **s.kafka_timeout()
    )
    # The audit line: shown whatever the verbosity (a change to the pipeline's input, by hand).
    get("gx.audit").warning(record["event"], **{k: v for k, v in record.items() if k != "event"})
    emit(
        {"replayed": record["letter"], "to": record["written"], "audit": record},
        as_json,
        lambda r: f"replayed {r['replayed']} to {r['to']} (recorded on {TopicSettings().dlq_replays})",
    )
