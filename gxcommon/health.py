"""Probes of the services every process depends on. Each returns a short fact or raises.

Used by the local stack's health waits, `gxctl check` and the workers' /readyz, so "healthy"
means the same thing everywhere.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from gxcommon.http_auth import public, request
from gxerrors import GxError

PG_CONNECTOR = "io.debezium.connector.postgresql.PostgresConnector"


class ProbeError(GxError):
    """A service did not answer as required; ``service`` names it (postgres, kafka, connect, the
    submitter), the message says what was seen."""

    def __init__(self, service: str, message: str) -> None:
        self.service = service
        super().__init__(message)


def postgres(dsn: str, timeout: float = 3) -> str:
    """Connect and query; returns the server's wal_level. Raises ProbeError on failure."""
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=max(1, int(timeout))) as conn:
            row = conn.execute("SHOW wal_level").fetchone()
            assert row is not None  # SHOW always returns its one row
            return str(row[0])
    except psycopg.Error as e:
        raise ProbeError(
            "postgres", f"postgres: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}"
        ) from e


def kafka(bootstrap: str, timeout: float = 3, conf: dict[str, str] | None = None) -> int:
    """The broker answers ApiVersions and Metadata (librdkafka does both); returns the broker count.
    ``conf`` adds client settings (credentials) to this process's own."""
    from confluent_kafka import KafkaException

    from gxcommon.kafka import AdminClient

    admin = AdminClient(
        {"bootstrap.servers": bootstrap, "log_level": 0, "socket.timeout.ms": int(timeout * 1000), **(conf or {})}
    )
    try:
        md = admin.list_topics(timeout=timeout)
    except KafkaException as e:
        err = e.args[0] if e.args else None
        raise ProbeError(
            "kafka", f"kafka at {bootstrap}: {err.str() if err is not None and hasattr(err, 'str') else e}"
        ) from e
    if not md.brokers:
        raise ProbeError("kafka", f"kafka at {bootstrap}: no broker in metadata")
    return len(md.brokers)


def kafka_login_problem(bootstrap: str, timeout: float = 3) -> str | None:
    """Why the brokers refuse this process's login (SASL or TLS), or None if they did not within
    ``timeout``. Metadata calls only say "transport failure"; the reason reaches an error callback,
    which a polled producer serves."""
    import time

    from confluent_kafka import KafkaError

    from gxcommon.kafka import Producer

    found: list[str] = []

    def on_error(err: KafkaError) -> None:
        if err.code() in (KafkaError._AUTHENTICATION, KafkaError._SSL):
            found.append(err.str().split(": ", 1)[-1])

    p = Producer({"bootstrap.servers": bootstrap, "log_level": 0, "error_cb": on_error})
    end = time.monotonic() + timeout
    while not found and time.monotonic() < end:
        p.poll(0.1)
    return found[0] if found else None


def connect(url: str, timeout: float = 3) -> list[str]:
    """Kafka Connect's REST API answers and lists the Debezium Postgres connector; returns the plugin classes."""
    try:
        with urllib.request.urlopen(request(f"{url.rstrip('/')}/connector-plugins"), timeout=timeout) as r:
            plugins = [p["class"] for p in json.load(r)]
    except urllib.error.HTTPError as e:
        if e.code == 401:
            raise ProbeError(
                "connect",
                f"connect at {public(url)} refused the login (HTTP 401): check GX_CONNECT_USERNAME "
                "and GX_CONNECT_PASSWORD_FILE",
            ) from e
        raise ProbeError("connect", f"connect at {public(url)}: HTTP {e.code} {e.reason}") from e
    except OSError as e:
        reason = getattr(e, "reason", None) or e  # urllib wraps the socket error
        raise ProbeError("connect", f"connect at {public(url)}: {getattr(reason, 'strerror', None) or reason}") from e
    if PG_CONNECTOR not in plugins:
        raise ProbeError("connect", f"connect at {public(url)}: the Debezium Postgres connector is not installed")
    return plugins
