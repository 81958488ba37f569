"""Preparing any deployment (local stack, compose, Kubernetes): schema, topics, outbox connector.

Reads only what it is given; `gxctl init` passes the GX_* settings, `gxctl up` the local stack's.
"""

from __future__ import annotations

from connectors.deploy import PasswordSource, deploy_outbox
from connectors.publication import ensure_publication
from connectors.render import load
from gxcommon import topics
from gxcommon.dsn import secret_parts
from schemas.migrate import migrate
from schemas.roles import apply_grants


def migrate_and_grant(dsn: str) -> tuple[list[str], bool]:
    """Apply migrations, then the roles' grants when the database has roles (schemas.roles);
    returns the migrations applied now and whether grants were. Raises MigrationError, psycopg.Error."""
    from projections.groups import GROUPS

    applied = migrate(dsn)
    return applied, apply_grants(dsn, {name: g.tables for name, g in GROUPS.items()})


def init(
    dsn: str,
    bootstrap: str,
    connect_url: str | None,
    t: topics.TopicSettings,
    connect_password: PasswordSource,
    cdc_dsn: str | None = None,
    connect_poll_ms: int | None = None,
) -> list[str]:
    """Apply migrations (and grants), create topics, deploy the outbox connector logged in as
    ``cdc_dsn``'s role (default ``dsn``'s), Connect reading its password as ``connect_password``
    says; one line per step. Without ``connect_url`` (a connector managed elsewhere, e.g. a Strimzi
    KafkaConnector) only the connector's publication is made. PlaintextPasswordError, before any
    step, when the connector would be deployed and ``connect_password`` names no provider."""
    name = load()["name"]
    if connect_url:
        connect_password.require(name)
    applied, granted = migrate_and_grant(dsn)
    done = [f"migrations applied: {', '.join(applied) or 'none pending'}"]
    if granted:
        done.append("grants applied to every role")
    topics.apply(bootstrap, topics.specs(t))
    done.append("topics applied")
    if not connect_url:
        publication = load()["config"]["publication.name"]
        ensure_publication(dsn, publication)
        done.append(f"publication {publication} ready (the connector is managed elsewhere)")
        return done
    st = deploy_outbox(
        dsn, secret_parts(cdc_dsn or dsn), connect_url, t.commands, connect_password, poll_ms=connect_poll_ms
    )
    done.append(f"connector {st['name']}: {st['connector']['state']}")
    return done
