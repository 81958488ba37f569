"""Settings of a worker process (streams or projections): one frozen object (env prefix ``GX_``)."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GX_", frozen=True, extra="ignore")

    pg_dsn: SecretStr | None = None
    kafka_bootstrap: str = "127.0.0.1:59092"
    app_id: str = "gx-pipeline"
    # Faust's web server for /metrics, /healthz and /readyz, on loopback; 0 disables it.
    web_port: int = 0
    log_level: str = "info"
    # Where a new consumer group starts; "earliest" so that no command enqueued before the first
    # start of a worker is ever skipped.
    auto_offset_reset: str = "earliest"
    # Submitter: commands in flight per partition; retry and breaker limits.
    # Per partition. The peer rejects gateway calls past its concurrency limit (500) instead of
    # queueing them, so 6 partitions x 80 stay below it (shared/fabric-notes.md).
    submit_window: int = 80
    max_attempts: int = 5
    breaker_failures: int = 5
    breaker_reset_s: float = 60.0
    breaker_successes: int = 2
    # Projector: its name (the checkpoint key), and a batch of up to N events or T milliseconds.
    projector_name: str = "ledger"
    projector_batch: int = 2000
    projector_batch_ms: int = 100
