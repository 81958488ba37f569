"""Settings of a worker process (streams or projections): one frozen object (env prefix ``GX_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from gxcommon.settings import ConnectionSettings, read_secret_file


class WorkerSettings(ConnectionSettings):
    """Connection settings (``dsn()`` honours GX_PG_PASSWORD_FILE) plus the workers' own."""

    model_config = SettingsConfigDict(env_prefix="GX_", frozen=True, extra="ignore")

    app_id: str = "gx-pipeline"
    # Faust's web server for /metrics, /healthz and /readyz, on loopback; 0 disables it.
    web_port: int = 0
    # Its address: loopback locally; the pod's address in the chart (0.0.0.0 in compose), for the
    # probes and Prometheus.
    web_host: str = "127.0.0.1"
    # A file holding the token /metrics requires (Authorization: Bearer TOKEN); unset: none.
    web_token_file: Path | None = None
    log_level: str = "info"
    # Faust's data folder (empty: tables are in memory); default under the system's temp folder.
    data_dir: Path | None = None
    # Where a new consumer group starts; "earliest" so that no command enqueued before the first
    # start of a worker is ever skipped. (The projectors start each partition right after their
    # checkpoint in the database, whatever this says: projections.loop.)
    auto_offset_reset: str = "earliest"
    # Kafka group membership: a member that stops heartbeating (killed) loses its partitions after
    # this many seconds (Faust's default, 60 s, kept a restarted worker waiting a minute); members
    # rejoining a rebalance get this long to do it.
    session_timeout_s: float = 10.0
    # Static group membership (KIP-345): a name for this process that stays the same across its
    # restarts (each worker kind's group gets it with the kind appended). A killed worker restarted
    # under the same name takes its partitions back at once instead of after the session timeout;
    # but a member that stops for good (a scale-down, a pod replaced under a new name) holds its
    # partitions until the session timeout, as it never says it leaves. Empty: dynamic membership.
    group_instance_id: str = ""
    rebalance_timeout_s: float = 30.0
    # Submitter: commands in flight per partition; retry and breaker limits.
    # Per partition. The peer rejects gateway calls past its concurrency limit (500) instead of
    # queueing them, so 6 partitions x 80 stay below it.
    submit_window: int = 80
    # Commands held per partition from its oldest unfinished one (finished ones included): what one
    # stuck key lets the others of its partition run ahead of it, and what a crash replays at most.
    submit_span: int = 5000
    # Records waiting beyond that span, per partition; when one partition's backlog is full that
    # partition alone stops fetching (Faust's own flow control) until it is down to half.
    submit_backlog: int = 1000
    # Seconds a sent transaction waits for its block before the same signed transaction is sent
    # again (at once when a later one of the submitter's commits first: an orderer that died lost
    # it). A copy ordered too is DUPLICATE_TXID, never applied twice.
    resubmit_after_s: float = 20.0
    # Seconds a final result may fail to publish before the submitter exits to be restarted.
    publish_deadline_s: float = 300.0
    # Publish a SUBMITTED result after each send (the outbox row then shows SUBMITTED and the tx id
    # while the transaction is ordered). Off: it cost a produce, a consume and an outbox update per
    # command (bench/levers.py measures it); the final result carries submittedAt either way.
    submitted_results: bool = False
    # Commit statuses from one filtered-block stream (the peer's DeliverFiltered) instead of a
    # signed CommitStatus call per transaction (bench/levers.py measures it).
    commit_stream: bool = True
    # Refuse (REJECTED, dead-lettered, no attempt) a command whose envelope's service may not send
    # its type (schemas.permissions). On in the secure stack; off, any service name is taken.
    service_check: bool = False
    max_attempts: int = 5
    breaker_failures: int = 5
    # The breaker's first probe after it opens, and the cap of its doubling probe delays.
    breaker_first_probe_s: float = Field(default=1.0, gt=0)
    breaker_max_probe_s: float = Field(default=60.0, gt=0)
    breaker_successes: int = 2
    # Results writer's corrector (streams.corrector): a FAILED row whose transaction commits later is
    # corrected to CONFIRMED from the block stream. Off: such a row stays FAILED.
    corrector: bool = True
    # How often the events still waiting for their command's row are looked up (one query for all).
    corrector_check_s: float = Field(default=1.0, gt=0)
    # How long an event waits for its command's row to be final before it is given up (counted).
    corrector_watch_s: float = Field(default=3600.0, gt=0)
    # Projectors: a batch of up to N events or T milliseconds; the channel their checkpoints name.
    fabric_channel: str = "gxchannel"
    projector_batch: int = 2000
    projector_batch_ms: int = 100

    def web_token(self) -> str | None:
        """The token /metrics requires (GX_WEB_TOKEN_FILE's), or None. SettingsError if the file
        cannot be read."""
        return None if self.web_token_file is None else read_secret_file(self.web_token_file, "GX_WEB_TOKEN_FILE")
