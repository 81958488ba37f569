"""Settings: one base for every settings model of the project, and the connection settings every
worker and tool reads (one frozen object per process).

Every ``GX_*`` variable is read through a subclass of :class:`GxSettings`; nothing else in the
project reads the environment (tests/unit/test_settings.py checks the sources).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import PositiveFloat, PositiveInt, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from gxcommon.dsn import pg_parts, with_password
from gxcommon.http_auth import with_credentials
from gxerrors import GxError


class SettingsError(GxError):
    """A GX_* setting is missing, malformed or names a file that cannot be read. ``variables``
    names the settings concerned; the message says what to set."""

    def __init__(self, message: str, *variables: str) -> None:
        self.variables = variables
        super().__init__(message)


def read_secret_file(path: Path, variable: str) -> str:
    """A secret kept in a file (its last newline dropped). SettingsError naming ``variable`` if unreadable."""
    try:
        return path.read_text().rstrip("\n")
    except OSError as e:
        raise SettingsError(f"{variable} {path}: {e.strerror}", variable) from None


def _checked_dsn(dsn: str, variable: str) -> str:
    """``dsn`` if it is a postgresql:// URL; SettingsError naming ``variable`` and the problem if not."""
    try:
        pg_parts(dsn)
    except ValueError as e:
        raise SettingsError(
            f"{variable}: {e}; expected postgresql://user:password@host:port/dbname", variable
        ) from None
    return dsn


class GxSettings(BaseSettings):
    """The base of every settings model: prefix ``GX_`` (subclasses narrow it), frozen, and
    variables of other models ignored."""

    model_config = SettingsConfigDict(env_prefix="GX_", frozen=True, extra="ignore")


class ConnectionSettings(GxSettings):
    """Where the services are. ``pg_dsn`` holds a password, hence ``SecretStr``."""

    pg_dsn: SecretStr | None = None
    # Optional: a file holding the Postgres password, preferred over the one in pg_dsn where a
    # secret must not sit in an environment variable (e.g. a mounted Kubernetes secret).
    pg_password_file: Path | None = None
    kafka_bootstrap: str | None = None
    connect_url: str | None = None
    # Basic auth on Connect's REST API (the secure stack turns it on); password preferably from a file.
    connect_username: str | None = None
    connect_password: SecretStr | None = None
    connect_password_file: Path | None = None
    # A folder Kafka Connect reads (its FileConfigProvider "file"): the connector's password is
    # written there and referenced, never sent in the connector's config.
    connect_secrets_dir: Path | None = None
    # Or: the name of an environment variable of Connect's own process that holds the connector's
    # database password (its EnvVarConfigProvider "env"), e.g. in docker-compose.
    connect_password_env: str | None = None
    # Or: a config-provider reference Connect resolves to that password, put in the connector's
    # config as is, e.g. Strimzi's KubernetesSecretConfigProvider ``${secrets:NAMESPACE/SECRET:KEY}``
    # (the chart's init Job). One of the three is required to deploy the connector: its password is
    # never sent in clear (connectors.deploy.PasswordSource).
    connect_password_ref: str | None = None
    # Debezium's poll.interval.ms for the outbox connector; unset: the YAML's (connectors/outbox.yaml,
    # where both measured choices are stated). Lower buys capture latency with idle CPU.
    connect_poll_ms: PositiveInt | None = None
    # Prometheus' HTTP API (`gxctl report`, `gxctl status`); the local stack's with --with-monitoring.
    prometheus_url: str | None = None
    # Kafka security: PLAINTEXT, or SASL_SSL with SCRAM credentials of this process's principal and
    # the CA that signed the brokers' certificates.
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    kafka_password_file: Path | None = None  # preferred: the password never sits in the environment
    kafka_ca_file: Path | None = None
    # `gxctl dlq replay` logs in as this principal when set (allowed to replay and record that only:
    # gxcommon.dlq_replay), else as the process's own; its password from a file.
    kafka_replay_username: str | None = None
    kafka_replay_password_file: Path | None = None
    # The login Debezium uses to read the outbox (a replication role); default: pg_dsn's.
    pg_cdc_dsn: SecretStr | None = None
    pg_cdc_password_file: Path | None = None  # its password from a file (a mounted Secret)

    def kafka_security(self) -> dict[str, str]:
        """librdkafka's security settings for this process (empty for PLAINTEXT).
        Raises SettingsError naming a missing setting."""
        protocol = self.kafka_security_protocol.upper()
        if protocol == "PLAINTEXT":
            return {}
        if protocol != "SASL_SSL":
            raise SettingsError(
                f"GX_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol!r}: PLAINTEXT or SASL_SSL",
                "GX_KAFKA_SECURITY_PROTOCOL",
            )
        password = self.kafka_password.get_secret_value() if self.kafka_password else None
        if self.kafka_password_file is not None:
            password = read_secret_file(self.kafka_password_file, "GX_KAFKA_PASSWORD_FILE")
        missing = [
            n
            for n, v in (
                ("GX_KAFKA_USERNAME", self.kafka_username),
                ("GX_KAFKA_PASSWORD or GX_KAFKA_PASSWORD_FILE", password),
                ("GX_KAFKA_CA_FILE", self.kafka_ca_file),
            )
            if v is None
        ]
        if missing:
            variables = [v for either in missing for v in either.split(" or ")]
            raise SettingsError(f"GX_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs {', '.join(missing)}", *variables)
        return {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": self.kafka_sasl_mechanism,
            "sasl.username": str(self.kafka_username),
            "sasl.password": str(password),
            "ssl.ca.location": str(self.kafka_ca_file),
            "ssl.endpoint.identification.algorithm": "https",
        }

    def kafka_replay_security(self) -> dict[str, str]:
        """librdkafka's settings to log in as the replay principal (:meth:`kafka_security` with its
        username and password), or {} when GX_KAFKA_REPLAY_USERNAME is unset (this process's own
        login then). SettingsError naming a missing or unreadable setting."""
        if self.kafka_replay_username is None:
            return {}
        if self.kafka_replay_password_file is None:
            raise SettingsError(
                "GX_KAFKA_REPLAY_USERNAME needs GX_KAFKA_REPLAY_PASSWORD_FILE", "GX_KAFKA_REPLAY_PASSWORD_FILE"
            )
        password = read_secret_file(self.kafka_replay_password_file, "GX_KAFKA_REPLAY_PASSWORD_FILE")
        login = {"kafka_username": self.kafka_replay_username, "kafka_password": SecretStr(password)}
        return self.model_copy(update={**login, "kafka_password_file": None}).kafka_security()

    def require(self, *names: str) -> None:
        """Raise SettingsError naming every listed setting that is unset (with how to set it)."""
        missing = [f"GX_{n.upper()}" for n in names if getattr(self, n) is None]
        if missing:
            raise SettingsError(
                f"{', '.join(missing)} not set, and no local stack was found to take them from: "
                "`gxctl up` starts one; for another deployment, set them (gxctl -v shows what is used)",
                *missing,
            )

    def bootstrap(self) -> str:
        """Kafka's bootstrap servers; SettingsError (with how to set them) when unset."""
        self.require("kafka_bootstrap")
        assert self.kafka_bootstrap is not None
        return self.kafka_bootstrap

    def dsn(self) -> str:
        """The Postgres DSN (with the password from pg_password_file if that is set). SettingsError
        if it is unset or not a postgresql:// URL, or the password file cannot be read."""
        self.require("pg_dsn")
        assert self.pg_dsn is not None
        dsn = _checked_dsn(self.pg_dsn.get_secret_value(), "GX_PG_DSN")
        if self.pg_password_file is None:
            return dsn
        return with_password(dsn, read_secret_file(self.pg_password_file, "GX_PG_PASSWORD_FILE"))

    def connect_endpoint(self) -> str | None:
        """connect_url with the basic-auth credentials, if any (for gxcommon.http_auth; never print
        it: http_auth.public). Raises SettingsError for an unreadable password file."""
        if not self.connect_url or not self.connect_username:
            return self.connect_url
        password = self.connect_password.get_secret_value() if self.connect_password else ""
        if self.connect_password_file is not None:
            password = read_secret_file(self.connect_password_file, "GX_CONNECT_PASSWORD_FILE")
        return with_credentials(self.connect_url, self.connect_username, password)

    def cdc_dsn(self) -> str:
        """The DSN Debezium logs in with (pg_cdc_dsn with pg_cdc_password_file's password, else the
        main one). SettingsError if it is not a postgresql:// URL or a password file cannot be read."""
        if self.pg_cdc_dsn is None:
            return self.dsn()
        dsn = _checked_dsn(self.pg_cdc_dsn.get_secret_value(), "GX_PG_CDC_DSN")
        if self.pg_cdc_password_file is None:
            return dsn
        return with_password(dsn, read_secret_file(self.pg_cdc_password_file, "GX_PG_CDC_PASSWORD_FILE"))


class CliSettings(ConnectionSettings):
    """What `gxctl` reads besides the connections: ``GX_DEBUG=1`` shows tracebacks."""

    debug: bool = False
    # Seconds a command waits for Kafka before it says Kafka is unreachable; unset, each command's
    # own (30 s to manage topics, 10 s to read dead letters). The unit tests set a short one.
    kafka_timeout_s: PositiveFloat | None = None

    def kafka_timeout(self) -> dict[str, float]:
        """The ``timeout`` argument of the CLI's Kafka calls: GX_KAFKA_TIMEOUT_S's, or none (the
        call's own default)."""
        return {} if self.kafka_timeout_s is None else {"timeout": self.kafka_timeout_s}


@lru_cache(maxsize=1)
def connection_settings() -> ConnectionSettings:
    """The process-wide connection settings, read once."""
    return ConnectionSettings()
