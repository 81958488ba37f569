"""The Faust app every worker (streams and projections) runs, configured from WorkerSettings."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import faust
from prometheus_client import Gauge

from gxcommon.logs import configure_json, stdlib_json_config
from gxcommon.worker_settings import WorkerSettings
from gxerrors import GxError


class WorkerError(GxError):
    """A worker cannot start (unknown name, missing setting)."""


def _read_committed() -> None:
    """Every worker's consumer reads committed records only (Faust's aiokafka consumer reads
    uncommitted unless Faust runs its own transactions): gx.fabric.events is written in Kafka
    transactions, one per block, and an aborted block must never reach a projection."""
    from faust.transport.drivers import aiokafka as driver

    create = driver.AIOKafkaConsumerThread._create_worker_consumer
    if getattr(create, "_gx_read_committed", False):
        return

    def create_read_committed(self: object, transport: object) -> object:
        consumer = create(self, transport)  # type: ignore[arg-type]
        consumer._isolation_level = "read_committed"  # read by the fetcher when the consumer starts
        return consumer

    create_read_committed._gx_read_committed = True  # type: ignore[attr-defined]
    driver.AIOKafkaConsumerThread._create_worker_consumer = create_read_committed  # type: ignore[method-assign]


def _exclusive_gaps() -> None:
    """Offsets a consumer never sees (a transaction's commit marker, records of an aborted one)
    are "gaps" that faust-streaming 0.15.3 counts as acknowledged so that commits can pass them.
    It records the gap up to and including the offset of the record that follows it, so that
    record is acknowledged twice; its commit bookkeeping then stalls, and on a topic written in
    transactions (gx.fabric.events, gx.fabric.blocks) the group's committed offset stopped moving
    while the records were processed (consumer lag grew without end; found by the dashboards).
    The gap is made what it is: the offsets strictly between two records read."""
    from faust.transport.consumer import Consumer

    add_gap = Consumer._add_gap
    if getattr(add_gap, "_gx_exclusive", False):
        return

    async def exclusive(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
        await add_gap(self, tp, offset_from, offset_to - 1)

    exclusive._gx_exclusive = True  # type: ignore[attr-defined]
    Consumer._add_gap = exclusive  # type: ignore[method-assign]


def make_app(
    s: WorkerSettings,
    worker: str,
    consumes: bool = True,
    wait_empty: bool = True,
    producer_timeout: float = 1200.0,
    faust_consumer: bool = True,
) -> faust.App:
    """A Faust app for one worker kind (its consumer group is ``<app_id>-<worker>``).

    With ``web_port`` set, the worker serves /metrics, /healthz and /readyz (gxcommon.web) there.
    Topics are never declared by Faust: `gxctl topics apply` owns them (auto-creation is off),
    and Faust's leader topic is disabled for the same reason. Consumers read committed records
    only. ``consumes=False`` is a worker without a Kafka consumer (the block publisher): /readyz
    then does not wait for partitions. ``wait_empty=False``: on a rebalance and at shutdown Faust
    does not wait for every taken record to be acked (a worker that holds records for long and
    commits exactly itself, the submitter). ``producer_timeout``: seconds before a send that
    cannot be delivered fails (Faust's default, 1200 s, hides an unreachable topic for 20 minutes).
    ``faust_consumer=False``: Faust starts no consumer at all, only its web server, producer, tasks
    and timers (a worker whose Kafka consumers are its own: the projectors, projections.agent).
    """
    _read_committed()
    _exclusive_gaps()
    s.require("kafka_bootstrap")
    app = faust.App(
        f"{s.app_id}-{worker}",
        broker=f"kafka://{s.kafka_bootstrap}",
        value_serializer="raw",
        key_serializer="raw",
        web_enabled=bool(s.web_port),
        web_port=s.web_port or 6066,
        web_bind=s.web_host,
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset=s.auto_offset_reset,
        broker_commit_every=500,
        broker_commit_interval=1.0,
        stream_wait_empty=wait_empty,
        broker_session_timeout=s.session_timeout_s,
        consumer_group_instance_id=f"{s.group_instance_id}-{worker}" if s.group_instance_id else None,
        broker_rebalance_timeout=s.rebalance_timeout_s,
        producer_request_timeout=producer_timeout,
        store="memory://",
        broker_credentials=_credentials(s),
        # Faust makes a data folder even for in-memory tables; never in the working directory.
        datadir=str(s.data_dir or Path(tempfile.gettempdir()) / "gx-pipeline-faust"),
        # Faust's own pages (the topology at /router/, tables, the graph, statistics) answer anyone
        # who reaches the port: off. The worker serves /metrics, /healthz and /readyz (gxcommon.web).
        web_router_enabled=False,
        web_tables_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
    )
    app.__dict__["_gx_consumes"] = consumes and faust_consumer
    app.producer_only = not faust_consumer
    if s.web_port:
        from gxcommon import readiness, web

        web.install(app, s.web_token())
        readiness.install(app, {"kafka": readiness.kafka_probe(s.bootstrap()), "postgres": _postgres_probe(s)})
        if faust_consumer:
            _track_consumer_lag(app, f"{s.app_id}-{worker}")  # the block publisher reads its markers back
    return app


def _credentials(s: WorkerSettings) -> Any:
    """Faust's (aiokafka's) side of ConnectionSettings.kafka_security: SCRAM over TLS, or None."""
    sec = s.kafka_security()
    if not sec:
        return None
    import ssl

    ctx = ssl.create_default_context(cafile=sec["ssl.ca.location"])
    return faust.SASLCredentials(
        username=sec["sasl.username"], password=sec["sasl.password"], mechanism=sec["sasl.mechanism"], ssl_context=ctx
    )


def _postgres_probe(s: WorkerSettings) -> Any:
    from gxcommon import readiness

    if s.pg_dsn is None:

        async def unset() -> None:
            raise RuntimeError("GX_PG_DSN is not set")

        return unset
    return readiness.postgres_probe(s.dsn())


CONSUMER_LAG = Gauge(
    "consumer_lag_records",
    "Log end offset minus the group's committed offset (a transaction's commit marker counts as one record)",
    ["group", "topic", "partition"],
)


def _track_consumer_lag(app: faust.App, group: str) -> None:
    """``consumer_lag_records`` for every partition assigned to this worker, every 5 s (partitions
    revoked from it are dropped, so a group's sum is the same whichever member reports it)."""
    seen: set[Any] = set()

    @app.timer(5.0)
    async def consumer_lag() -> None:
        assigned = app.consumer.assignment()
        committed = app.monitor.tp_committed_offsets
        for tp in seen - assigned:
            CONSUMER_LAG.remove(group, tp.topic, str(tp.partition))
        seen.clear()
        for tp in assigned:
            high = app.consumer.highwater(tp)
            # Nothing committed since this worker started (an idle partition): where it reads.
            done = committed.get(tp)
            if done is None:
                done = await app.consumer.position(tp)
            if high is None or done is None:
                continue
            CONSUMER_LAG.labels(group, tp.topic, str(tp.partition)).set(max(0, high - done))
            seen.add(tp)


def run(app: faust.App, s: WorkerSettings) -> None:
    """Run ``app`` in the foreground until interrupted; every log line is one JSON object (gxcommon.logs)."""
    configure_json(s.log_level)
    # Our lines are already JSON on stdout; Faust must not wrap stdout into its own log format, and
    # its own lines (and aiokafka's, librdkafka's) are written as the same JSON objects.
    faust.Worker(
        app, loglevel=s.log_level, redirect_stdouts=False, logging_config=stdlib_json_config(s.log_level)
    ).execute_from_commandline()
