"""Deploying the outbox connector: the publication in Postgres, then the config in Kafka Connect.

The connector's database password never goes into its config (Connect's REST API returns the
config, and its config topic keeps it): the config holds a config-provider reference that Connect
resolves itself (:class:`PasswordSource`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors import connect_api
from connectors.errors import ConnectorError
from connectors.publication import ensure_publication
from connectors.render import outbox
from gxcommon.private_files import file_reference


class PlaintextPasswordError(ConnectorError):
    """No config provider was named, so the connector's password would be sent in clear."""


@dataclass(frozen=True)
class PasswordSource:
    """Where Connect reads the connector's database password from, first set first:

    - ``reference`` (GX_CONNECT_PASSWORD_REF): a config-provider reference put in the config as is,
      e.g. Strimzi's KubernetesSecretConfigProvider ``${secrets:NAMESPACE/SECRET:KEY}``;
    - ``env`` (GX_CONNECT_PASSWORD_ENV): a variable of Connect's own environment (``${env:NAME}``,
      Kafka's EnvVarConfigProvider named ``env``);
    - ``secrets_dir`` (GX_CONNECT_SECRETS_DIR): a folder Connect reads; the password is written
      there to a 0600 file (``${file:PATH:KEY}``, the FileConfigProvider named ``file``).
    """

    reference: str | None = None
    env: str | None = None
    secrets_dir: Path | None = None

    def require(self, connector: str) -> None:
        """PlaintextPasswordError, naming the settings, unless a source is set."""
        if not (self.reference or self.env or self.secrets_dir is not None):
            raise PlaintextPasswordError(
                f"connector {connector}: no config provider for its database password, which would be sent to "
                "Kafka Connect in clear (its REST API and config topic keep it): set GX_CONNECT_PASSWORD_REF "
                "(e.g. ${secrets:NAMESPACE/SECRET:KEY}), GX_CONNECT_PASSWORD_ENV or GX_CONNECT_SECRETS_DIR"
            )

    def config_value(self, connector: str, password: str) -> str:
        """The value of the config's ``database.password``: a reference, never ``password``.
        Writes the secrets-dir file when that is the source. PlaintextPasswordError when no
        source is set."""
        self.require(connector)
        if self.reference:
            return self.reference
        if self.env:
            return f"${{env:{self.env}}}"
        assert self.secrets_dir is not None  # require() passed
        return password_reference(self.secrets_dir, connector, password)


def password_reference(secrets_dir: Path, name: str, password: str) -> str:
    """Write ``password`` to ``<secrets_dir>/<name>.properties`` (0600) and return the reference
    Connect's FileConfigProvider (named ``file`` in the worker's config.providers) resolves."""
    return file_reference(secrets_dir / f"{name}.properties", "database.password", password)


def connector_config(
    pg: Mapping[str, object], commands_topic: str, password: PasswordSource, poll_ms: int | None = None
) -> tuple[str, dict[str, str]]:
    """The connector's name and the config PUT to Connect: connectors/outbox.yaml rendered for
    ``pg`` with the password replaced by ``password``'s reference, and the DSN's sslmode (``pg``'s
    query, as gxcommon.dsn.pg_parts gives it) as Debezium's, so that it connects as every other
    process does. PlaintextPasswordError without a password source."""
    doc = outbox(pg, commands_topic, poll_ms=poll_ms)
    config = dict(doc["config"])
    config["database.password"] = password.config_value(doc["name"], str(pg["password"]))
    query = pg.get("query")
    if isinstance(query, Mapping) and query.get("sslmode"):
        config["database.sslmode"] = str(query["sslmode"])
    return doc["name"], config


def deploy_outbox(
    dsn: str,
    pg: Mapping[str, object],
    connect_url: str,
    commands_topic: str,
    password: PasswordSource,
    timeout: float = 120,
    poll_ms: int | None = None,
) -> dict[str, Any]:
    """Create the publication, PUT the config (:func:`connector_config`), wait for RUNNING;
    returns Connect's status. Raises PlaintextPasswordError (before anything is changed) when
    ``password`` names no provider, ConnectApiError (with the task's trace) if the connector or its
    task fails."""
    name, config = connector_config(pg, commands_topic, password, poll_ms)
    ensure_publication(dsn, config["publication.name"])
    return connect_api.apply(connect_url, name, config, timeout)
