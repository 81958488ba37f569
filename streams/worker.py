"""Running one stream worker in the foreground (`gxctl run WORKER`)."""

from __future__ import annotations

import faust

from gxcommon.topics import TopicSettings
from streams.app import make_app
from streams.settings import StreamSettings

WORKERS = ("results-writer",)


class WorkerError(Exception):
    """A worker cannot start (unknown name, missing setting)."""


def build(name: str, s: StreamSettings, t: TopicSettings) -> faust.App:
    if name not in WORKERS:
        raise WorkerError(f"unknown worker {name!r}; known: {', '.join(WORKERS)}")
    if s.pg_dsn is None:
        raise WorkerError("GX_PG_DSN is not set")
    app = make_app(s, name)
    if name == "results-writer":
        from streams.results_writer import install

        install(app, t.command_results, t.commands_dlq, s.pg_dsn.get_secret_value())
    return app


def run(name: str) -> None:
    s = StreamSettings()
    app = build(name, s, TopicSettings())
    faust.Worker(app, loglevel=s.log_level).execute_from_commandline()
