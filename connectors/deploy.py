"""Deploying the outbox connector: the publication in Postgres, then the config in Kafka Connect."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from connectors import connect_api
from connectors.publication import ensure_publication
from connectors.render import outbox
from gxcommon.private_files import file_reference


def password_reference(secrets_dir: Path, name: str, password: str) -> str:
    """Write ``password`` to ``<secrets_dir>/<name>.properties`` (0600) and return the reference
    Connect's FileConfigProvider (named ``file`` in the worker's config.providers) resolves."""
    return file_reference(secrets_dir / f"{name}.properties", "database.password", password)


def deploy_outbox(
    dsn: str,
    pg: Mapping[str, object],
    connect_url: str,
    commands_topic: str,
    timeout: float = 120,
    secrets_dir: Path | None = None,
    password_env: str | None = None,
    poll_ms: int | None = None,
) -> dict[str, Any]:
    """Create the publication, PUT the config, wait for RUNNING; returns Connect's status.

    The config holds a config-provider reference instead of the password, so Connect's REST API
    never returns it: with ``password_env`` (GX_CONNECT_PASSWORD_ENV) ``${env:NAME}``, a variable of
    Connect's own process; with ``secrets_dir`` (a folder Connect reads, GX_CONNECT_SECRETS_DIR)
    ``${file:...}``, the password written to a 0600 file there. Raises ConnectApiError (with the
    task's trace) if the connector or its task fails.
    """
    doc = outbox(pg, commands_topic, poll_ms=poll_ms)
    config = dict(doc["config"])
    if password_env:
        config["database.password"] = f"${{env:{password_env}}}"
    elif secrets_dir is not None:
        config["database.password"] = password_reference(secrets_dir, doc["name"], str(pg["password"]))
    ensure_publication(dsn, doc["config"]["publication.name"])
    return connect_api.apply(connect_url, doc["name"], config, timeout)
