"""Entry point of `gxctl`."""

from __future__ import annotations

import click

from gxctl.check_cmd import check
from gxctl.stack_cmd import stack


@click.group()
def cli() -> None:
    """GX Pipeline: outbox -> Kafka -> Fabric -> read models."""


cli.add_command(stack)
cli.add_command(check)

if __name__ == "__main__":
    cli()
