"""`gxctl up | down | status | init`: the whole local pipeline (stack + schema + topics + connector +
workers), and `init` for any other deployment."""

from __future__ import annotations

import sys

import click

from gxcommon.tables import rows_table
from gxctl.output import emit, json_option
from gxctl.stack_cmd import SECURE_HELP, topology_option
from stack.pipeline import Pipeline


@click.command("up")
@click.option("--secure", is_flag=True, help=SECURE_HELP)
@topology_option
def up(secure: bool, topology: str | None) -> None:
    """Start the stack, apply migrations, topics and the connector, start every worker (idempotent)."""
    from stack.manager import Stack
    from stack.settings import StackSettings

    Pipeline(Stack(StackSettings(topology=topology)) if topology else None).up(
        say=lambda line: click.echo(line), secure=secure
    )


@click.command("init")
@click.option(
    "--no-connector",
    is_flag=True,
    help="The connector is managed elsewhere (a Strimzi KafkaConnector): make its publication only.",
)
def init_cmd(no_connector: bool) -> None:
    """Against the GX_* services (any deployment): migrations, topics, the outbox connector."""
    from connectors.deploy import PasswordSource
    from gxcommon.settings import connection_settings
    from gxcommon.topics import TopicSettings
    from stack.init import init

    s = connection_settings()
    s.require("pg_dsn", "kafka_bootstrap", *(() if no_connector else ("connect_url",)))
    for line in init(
        s.dsn(),
        s.kafka_bootstrap or "",
        None if no_connector else s.connect_endpoint(),
        TopicSettings(),
        PasswordSource(s.connect_password_ref, s.connect_password_env, s.connect_secrets_dir),
        s.cdc_dsn() if s.pg_cdc_dsn else None,
        s.connect_poll_ms,
    ):
        click.echo(line)


@click.command("down")
@click.option("--purge", is_flag=True, help="Also delete all data of the local stack.")
def down(purge: bool) -> None:
    """Stop the workers, then the stack (only processes `up` started)."""
    stopped = Pipeline().down(purge)
    click.echo(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@click.command("status")
@json_option
def status(as_json: bool) -> None:
    """Every component and worker with pid and health; exit status 1 unless all are healthy."""
    rows = Pipeline().status()
    emit(rows, as_json, lambda r: rows_table(r, ["component", "pid", "healthy", "endpoint"]))
    sys.exit(0 if all(r["healthy"] for r in rows) else 1)
