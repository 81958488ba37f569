"""Entry point of `gxctl`."""

from __future__ import annotations

import click

from gxctl.check_cmd import check
from gxctl.commands_cmd import commands
from gxctl.connectors_cmd import connectors
from gxctl.db_cmd import db
from gxctl.demo_cmd import demo
from gxctl.dlq_cmd import dlq
from gxctl.fabric_cmd import fabric
from gxctl.run_cmd import run_cmd
from gxctl.projections_cmd import projections, verify_cmd
from gxctl.schemas_cmd import schemas
from gxctl.stack_cmd import stack
from gxctl.topics_cmd import topics
from gxctl.up_cmd import down, init_cmd, status, up


@click.group()
def cli() -> None:
    """GX Pipeline: outbox -> Kafka -> Fabric -> read models."""


for group in (stack, fabric, demo, up, down, status, init_cmd, check, db, topics, connectors, schemas, commands, run_cmd, dlq, projections,
              verify_cmd):
    cli.add_command(group)

if __name__ == "__main__":
    cli()
