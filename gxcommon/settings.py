"""Connection settings every worker and tool reads: one frozen object per process.

Only the names printed by `gxctl stack env` are read (prefix ``GX_``); nothing else in the
project reads the environment.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConnectionSettings(BaseSettings):
    """Where the services are. ``pg_dsn`` holds a password, hence ``SecretStr``."""

    model_config = SettingsConfigDict(env_prefix="GX_", frozen=True, extra="ignore")

    pg_dsn: SecretStr | None = None
    kafka_bootstrap: str | None = None
    connect_url: str | None = None


@lru_cache(maxsize=1)
def connection_settings() -> ConnectionSettings:
    """The process-wide connection settings, read once."""
    return ConnectionSettings()
