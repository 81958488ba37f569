"""Settings of a stream worker process: one frozen object (env prefix ``GX_``)."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class StreamSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GX_", frozen=True, extra="ignore")

    pg_dsn: SecretStr | None = None
    kafka_bootstrap: str = "127.0.0.1:59092"
    app_id: str = "gx-pipeline"
    # Faust's web server for /metrics, /healthz and /readyz, on loopback; 0 disables it.
    web_port: int = 0
    log_level: str = "info"
