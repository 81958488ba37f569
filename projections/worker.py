"""Building the projection workers for `gxctl run WORKER`."""

from __future__ import annotations

import faust

from gxcommon.faust_app import WorkerError, make_app
from gxcommon.topics import TopicSettings
from gxcommon.worker_settings import WorkerSettings

WORKERS = ("projector-ledger",)


def build(name: str, s: WorkerSettings, t: TopicSettings) -> faust.App:
    if name not in WORKERS:
        raise WorkerError(f"unknown worker {name!r}; known: {', '.join(WORKERS)}")
    if s.pg_dsn is None:
        raise WorkerError("GX_PG_DSN is not set")
    import psycopg

    from projections.agent import align_group_offsets, install
    from projections.store import checkpoints

    app = make_app(s, name)
    with psycopg.connect(s.pg_dsn.get_secret_value()) as conn:
        stored = checkpoints(conn, s.projector_name, t.fabric_events)
    moved = align_group_offsets(s.kafka_bootstrap, app.conf.id, t.fabric_events, stored)
    if moved:
        import logging

        logging.getLogger("gx.projector").warning("database behind Kafka; replaying from %s", moved)
    install(app, t.fabric_events, t.projections_dlq, s.pg_dsn.get_secret_value(), s.kafka_bootstrap, s.projector_name,
            batch=s.projector_batch, within=s.projector_batch_ms / 1000)
    return app
