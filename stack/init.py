"""Preparing any deployment (local stack, compose, Kubernetes): schema, topics, outbox connector.

Reads only what it is given; `gxctl init` passes the GX_* settings, `gxctl up` the local stack's.
"""

from __future__ import annotations

from pathlib import Path

from connectors.deploy import deploy_outbox
from gxcommon import topics
from gxcommon.dsn import pg_parts
from schemas.migrate import migrate


def init(dsn: str, bootstrap: str, connect_url: str | None, t: topics.TopicSettings,
         connect_secrets_dir: Path | None = None) -> list[str]:
    """Apply migrations, create topics, deploy the outbox connector; one line per step. Without
    ``connect_url`` (a connector managed elsewhere, e.g. a Strimzi KafkaConnector) only the
    connector's publication is made."""
    done = [f"migrations applied: {', '.join(migrate(dsn)) or 'none pending'}"]
    topics.apply(bootstrap, topics.specs(t))
    done.append("topics applied")
    if not connect_url:
        from connectors.publication import ensure_publication
        from connectors.render import load

        name = load()["config"]["publication.name"]
        ensure_publication(dsn, name)
        done.append(f"publication {name} ready (the connector is managed elsewhere)")
        return done
    st = deploy_outbox(dsn, pg_parts(dsn), connect_url, t.commands, secrets_dir=connect_secrets_dir)
    done.append(f"connector {st['name']}: {st['connector']['state']}")
    return done
