"""Settings of the local stack, one frozen object (env prefix ``GX_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_CACHE = Path.home() / ".cache" / "gx-pipeline"


class StackSettings(BaseSettings):
    """Where the stack lives and which loopback ports it takes.

    Ports default to uncommon numbers because 5432/9092/8083 may be taken by other servers.
    ``pg_dsn`` set means: use that existing Postgres instead of starting our own.
    """

    model_config = SettingsConfigDict(env_prefix="GX_", frozen=True, extra="ignore")

    cache_dir: Path = DEFAULT_CACHE
    state_dir: Path = DEFAULT_CACHE / "state"
    host: str = "127.0.0.1"
    pg_port: int = 55432
    kafka_port: int = 59092
    kafka_controller_port: int = 59093
    connect_port: int = 58083
    # Workers' web ports (/metrics, /healthz, /readyz): base, base + 1, ... in stack.pipeline.WORKERS order.
    worker_port_base: int = 58091
    pg_dsn: SecretStr | None = None
    # Heaps for a 2-core, 24 GiB machine that also runs Postgres, Fabric and Python workers.
    kafka_heap: str = "768m"
    connect_heap: str = "768m"
    start_timeout_s: float = 120.0

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def jars_dir(self) -> Path:
        return self.cache_dir / "jars"
