"""Building the stream workers (results writer with its corrector, submitter, block publisher) for
`gxctl run WORKER`."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import faust

from gxcommon.faust_app import WorkerError, make_app
from gxcommon.topics import TopicSettings
from gxcommon.worker_settings import WorkerSettings

if TYPE_CHECKING:
    from gxcommon.fabric_settings import FabricSettings

WORKERS = ("results-writer", "submitter", "block-publisher")


def build(name: str, s: WorkerSettings, t: TopicSettings) -> faust.App:
    if name not in WORKERS:
        raise WorkerError(f"unknown worker {name!r}; known: {', '.join(WORKERS)}")
    # The submitter holds records for long (Fabric down): it must not let Faust wait for them on a
    # rebalance or at shutdown (streams/submitter/partitions.py).
    # Its sends fail after 30 s, so that an unreachable results topic is retried and reported.
    sub = name == "submitter"
    app = make_app(
        s, name, consumes=name != "block-publisher", wait_empty=not sub, producer_timeout=30.0 if sub else 1200.0
    )
    if name == "block-publisher":
        from collections.abc import AsyncIterator

        from fabric_gateway import Gateway
        from fabric_gateway.blocks import Block
        from gxcommon.fabric_settings import FabricSettings
        from streams.block_publisher import PublisherConfig
        from streams.block_publisher import install as install_publisher

        f = FabricSettings()
        if not (f.gateway and f.cert and f.key):
            raise WorkerError("GX_FABRIC_GATEWAY, GX_FABRIC_CERT and GX_FABRIC_KEY must be set (gxctl stack env)")
        box: dict[str, Gateway] = {}

        def blocks(start: int) -> AsyncIterator[Block]:
            if "g" not in box:  # the gRPC channel is made inside the running event loop
                box["g"] = f.connect()
            return box["g"].blocks(f.channel, start)

        _require_gateway(app, f)
        install_publisher(
            app,
            PublisherConfig(
                s.bootstrap(),
                t.fabric_events,
                t.fabric_blocks,
                f.channel,
                t.partitions,
                f"{s.app_id}-block-publisher-{f.channel}",
                t.projections_dlq,
                f.chaincode,
            ),
            blocks,
        )
    elif name == "results-writer":
        from streams.results_writer import install

        if s.pg_dsn is None:
            raise WorkerError("GX_PG_DSN is not set")
        install(app, t.command_results, t.commands_dlq, s.dsn(), outbox_topic=t.commands)
        if s.corrector:
            from streams import corrector

            corrector.install(
                app,
                bootstrap=s.bootstrap(),
                events_topic=t.fabric_events,
                results_topic=t.command_results,
                dsn=s.dsn(),
                group_id=f"{s.app_id}-results-corrector",
                auto_offset_reset=s.auto_offset_reset,
                session_timeout_s=s.session_timeout_s,
                check_s=s.corrector_check_s,
                watch_s=s.corrector_watch_s,
            )
        from streams import replay_audit, slot_metrics

        slot_metrics.install(app, s.dsn())
        replay_audit.install(app, s.bootstrap(), t.dlq_replays)
    elif name == "submitter":
        from gxcommon.fabric_settings import FabricSettings
        from streams.breaker import CircuitBreaker
        from streams.outcome import RetryPolicy
        from streams.submitter.agent import install as install_submitter

        f = FabricSettings()
        if not (f.gateway and f.cert and f.key):
            raise WorkerError("GX_FABRIC_GATEWAY, GX_FABRIC_CERT and GX_FABRIC_KEY must be set (gxctl stack env)")
        _require_gateway(app, f)
        install_submitter(
            app,
            t.commands,
            t.command_results,
            t.commands_dlq,
            f,
            window=s.submit_window,
            breaker=CircuitBreaker(
                s.breaker_failures,
                s.breaker_max_probe_s,
                s.breaker_successes,
                first_probe_delay=min(s.breaker_first_probe_s, s.breaker_max_probe_s),
            ),
            policy=RetryPolicy(max_attempts=s.max_attempts),
            span=s.submit_span,
            backlog_cap=s.submit_backlog,
            publish_deadline=s.publish_deadline_s,
            progress=s.submitted_results,
            commit_stream=s.commit_stream,
            service_check=s.service_check,
            direct_topic=t.commands_direct,
            resubmit_after=s.resubmit_after_s,
            max_in_flight=s.submit_max_in_flight,
        )
    return app


def _require_gateway(app: faust.App, f: FabricSettings) -> None:
    """/readyz of a worker that talks to the ledger also needs the Fabric gateway."""
    from gxcommon import readiness

    if f.gateway and app.__dict__.get("_gx_dependencies") is not None:
        endpoints = f.gateways()
        if len(endpoints) == 1:
            readiness.install(app, {"fabric": readiness.fabric_probe(f.gateway, f.grpc_channel)})
        else:  # ready while any gateway endpoint is (the clients fail over between them)
            probes = [readiness.fabric_probe(e, functools.partial(f.grpc_channel, endpoint=e)) for e in endpoints]
            readiness.install(app, {"fabric": readiness.any_of(probes)})
