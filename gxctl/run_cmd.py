"""`gxctl run WORKER`: one stream worker in the foreground."""

from __future__ import annotations

import click

from streams.worker import WORKERS, WorkerError, run


@click.command("run")
@click.argument("worker", type=click.Choice(WORKERS))
def run_cmd(worker: str) -> None:
    """Run WORKER in the foreground until interrupted."""
    try:
        run(worker)
    except WorkerError as e:
        raise click.ClickException(str(e)) from e
