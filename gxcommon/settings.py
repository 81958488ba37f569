"""Connection settings every worker and tool reads: one frozen object per process.

Only the names printed by `gxctl stack env` are read (prefix ``GX_``); nothing else in the
project reads the environment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConnectionSettings(BaseSettings):
    """Where the services are. ``pg_dsn`` holds a password, hence ``SecretStr``."""

    model_config = SettingsConfigDict(env_prefix="GX_", frozen=True, extra="ignore")

    pg_dsn: SecretStr | None = None
    # Optional: a file holding the Postgres password, preferred over the one in pg_dsn where a
    # secret must not sit in an environment variable (e.g. a mounted Kubernetes secret).
    pg_password_file: Path | None = None
    kafka_bootstrap: str | None = None
    connect_url: str | None = None

    def require(self, *names: str) -> None:
        """Raise GxError naming every listed setting that is unset (with how to set it)."""
        from gxcommon.errors import GxError

        missing = [f"GX_{n.upper()}" for n in names if getattr(self, n) is None]
        if missing:
            raise GxError(f"{', '.join(missing)} not set; for the local stack: "
                          'eval "$(gxctl stack env --export)"')

    def dsn(self) -> str:
        """The Postgres DSN (with the password from pg_password_file if that is set)."""
        self.require("pg_dsn")
        assert self.pg_dsn is not None
        dsn = self.pg_dsn.get_secret_value()
        if self.pg_password_file is None:
            return dsn
        from gxcommon.dsn import with_password

        return with_password(dsn, self.pg_password_file.read_text().rstrip("\n"))


@lru_cache(maxsize=1)
def connection_settings() -> ConnectionSettings:
    """The process-wide connection settings, read once."""
    return ConnectionSettings()
