"""The Faust app every worker (streams and projections) runs, configured from WorkerSettings."""

from __future__ import annotations

import faust

from gxcommon.errors import WorkerError  # noqa: F401 (re-exported for the worker builders)
from gxcommon.worker_settings import WorkerSettings


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


def make_app(s: WorkerSettings, worker: str, consumes: bool = True) -> faust.App:
    """A Faust app for one worker kind (its consumer group is ``<app_id>-<worker>``).

    With ``web_port`` set, the worker serves /metrics, /healthz and /readyz (gxcommon.web) there.
    Topics are never declared by Faust: `gxctl topics apply` owns them (auto-creation is off),
    and Faust's leader topic is disabled for the same reason. Consumers read committed records
    only. ``consumes=False`` is a worker without a Kafka consumer (the block publisher): /readyz
    then does not wait for partitions.
    """
    _read_committed()
    s.require("kafka_bootstrap")
    app = faust.App(
        f"{s.app_id}-{worker}",
        broker=f"kafka://{s.kafka_bootstrap}",
        value_serializer="raw",
        key_serializer="raw",
        web_enabled=bool(s.web_port),
        web_port=s.web_port or 6066,
        web_bind="127.0.0.1",
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset=s.auto_offset_reset,
        broker_commit_every=500,
        broker_commit_interval=1.0,
        store="memory://",
    )
    app.__dict__["_gx_consumes"] = consumes
    if s.web_port:
        from gxcommon import web

        web.install(app)
    return app


def run(app: faust.App, s: WorkerSettings) -> None:
    """Run ``app`` in the foreground until interrupted; every log line is one JSON object (gxcommon.logs)."""
    from gxcommon.logs import configure_json, stdlib_json_config

    configure_json(s.log_level)
    # Our lines are already JSON on stdout; Faust must not wrap stdout into its own log format, and
    # its own lines (and aiokafka's, librdkafka's) are written as the same JSON objects.
    faust.Worker(app, loglevel=s.log_level, redirect_stdouts=False,
                 logging_config=stdlib_json_config(s.log_level)).execute_from_commandline()
