"""Building the projection workers for `gxctl run projector-GROUP` (one worker per group)."""

from __future__ import annotations

import faust

from gxcommon.faust_app import WorkerError, make_app
from gxcommon.topics import TopicSettings
from gxcommon.worker_settings import WorkerSettings
from projections.groups import GROUPS

WORKERS = tuple(f"projector-{g}" for g in GROUPS)


def build(name: str, s: WorkerSettings, t: TopicSettings) -> faust.App:
    if name not in WORKERS:
        raise WorkerError(f"unknown worker {name!r}; known: {', '.join(WORKERS)}")
    if s.pg_dsn is None:
        raise WorkerError("GX_PG_DSN is not set")
    import psycopg

    from gxcommon.logs import get
    from projections.agent import align_group_offsets, install
    from projections.store import checkpoints

    group = GROUPS[name.removeprefix("projector-")]
    dsn = s.dsn()
    app = make_app(s, name)
    with psycopg.connect(dsn) as conn:
        stored = checkpoints(conn, group.name, t.fabric_events)
    moved = align_group_offsets(s.kafka_bootstrap, app.conf.id, t.fabric_events, stored)
    if moved:
        get("gx.projector").warning("database behind Kafka; replaying", projector=group.name, from_offsets=moved)
    install(app, group, t.fabric_events, t.projections_dlq, dsn, s.kafka_bootstrap, group.name,
            channel=s.fabric_channel, batch=s.projector_batch, within=s.projector_batch_ms / 1000)
    return app
