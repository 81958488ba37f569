"""`gxctl run WORKER`: one worker in the foreground."""

from __future__ import annotations

import click

from gxcommon.faust_app import run
from gxcommon.topics import TopicSettings
from gxcommon.worker_settings import WorkerSettings
from projections import worker as projection_workers
from streams import worker as stream_workers

WORKERS = stream_workers.WORKERS + projection_workers.WORKERS


@click.command("run")
@click.argument("worker", type=click.Choice(WORKERS))
def run_cmd(worker: str) -> None:
    """Run WORKER in the foreground until interrupted."""
    s = WorkerSettings()
    builder = stream_workers if worker in stream_workers.WORKERS else projection_workers
    run(builder.build(worker, s, TopicSettings()), s)
