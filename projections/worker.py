"""Building the projection workers for `gxctl run`: ``projectors`` hosts every group in one process
(the default of `gxctl up`, docker-compose and the chart); ``projector-GROUP`` hosts one (a
deployment that splits them, and every group under Kafka security, where each group logs in as
its own principal)."""

from __future__ import annotations

import faust

from gxcommon.faust_app import WorkerError, make_app
from gxcommon.topics import TopicSettings
from gxcommon.worker_settings import WorkerSettings
from projections.groups import GROUPS

TOGETHER = "projectors"
WORKERS = (TOGETHER, *(f"projector-{g}" for g in GROUPS))


def groups_of(name: str) -> list[str]:
    """The groups worker ``name`` hosts. WorkerError for an unknown worker."""
    if name == TOGETHER:
        return list(GROUPS)
    if name not in WORKERS:
        raise WorkerError(f"unknown worker {name!r}; known: {', '.join(WORKERS)}")
    return [name.removeprefix("projector-")]


def build(name: str, s: WorkerSettings, t: TopicSettings) -> faust.App:
    groups = [GROUPS[g] for g in groups_of(name)]
    if s.pg_dsn is None:
        raise WorkerError("GX_PG_DSN is not set")
    if name == TOGETHER and s.kafka_security():
        raise WorkerError(
            "with Kafka security on, each projection group logs in as its own principal: "
            "run `gxctl run projector-GROUP` once per group instead of `projectors`"
        )
    from projections.agent import install

    dsn = s.dsn()
    app = make_app(s, name, faust_consumer=False)  # the groups' own consumers read (projections.loop)
    # Each group's loop positions its partitions at the stored checkpoints when they are handed
    # to it (projections.loop): nothing is committed to Kafka here, where another member of the
    # group may still run (a rolling update).
    install(
        app,
        groups,
        t.fabric_events,
        t.projections_dlq,
        dsn,
        s.bootstrap(),
        s.app_id,
        channel=s.fabric_channel,
        batch=s.projector_batch,
        within=s.projector_batch_ms / 1000,
        auto_offset_reset=s.auto_offset_reset,
        session_timeout_s=s.session_timeout_s,
    )
    return app
