"""`gxctl connectors render|apply|status`."""

from __future__ import annotations

import json
import sys

import click

from connectors import connect_api
from connectors import render as r
from connectors.deploy import PasswordSource, deploy_outbox
from gxcommon.dsn import secret_parts
from gxcommon.settings import connection_settings
from gxcommon.topics import TopicSettings
from gxctl.output import emit, json_option


def _rendered() -> dict:
    s = connection_settings()
    return r.outbox(secret_parts(s.cdc_dsn()), TopicSettings().commands, poll_ms=s.connect_poll_ms)


def _state_line(d: dict) -> str:
    return f"{d['name']}: connector {d['connector']['state']}, " + ", ".join(
        f"task {t['id']} {t['state']}" for t in d["tasks"]
    )


@click.group("connectors")
def connectors() -> None:
    """The Debezium outbox connector."""


@connectors.command("render")
@click.option("--show-secrets", is_flag=True, help="Print the password instead of ****.")
def render_cmd(show_secrets: bool) -> None:
    """Print the connector's Kafka Connect JSON."""
    doc = _rendered()
    click.echo(json.dumps(doc if show_secrets else r.masked(doc), indent=2))


@connectors.command("apply")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for RUNNING.")
@json_option
def apply(timeout: float, as_json: bool) -> None:
    """Create the publication, PUT the config, and wait until connector and task are RUNNING."""
    s = connection_settings()
    s.require("connect_url")
    st = deploy_outbox(
        s.dsn(),
        secret_parts(s.cdc_dsn()),
        s.connect_endpoint() or "",
        TopicSettings().commands,
        PasswordSource(s.connect_password_ref, s.connect_password_env, s.connect_secrets_dir),
        timeout,
        poll_ms=s.connect_poll_ms,
    )
    emit(st, as_json, _state_line)


@connectors.command("status")
@json_option
def status(as_json: bool) -> None:
    """Connector and task states; exit status 1 unless all RUNNING."""
    s = connection_settings()
    s.require("connect_url")
    name = r.load()["name"]
    st = connect_api.status(s.connect_endpoint() or "", name)
    if st is None:
        emit({"name": name, "exists": False}, as_json, lambda d: f"{name}: not registered (gxctl connectors apply)")
        sys.exit(1)
    emit(st, as_json, _state_line)
    ok = st["connector"]["state"] == "RUNNING" and all(t["state"] == "RUNNING" for t in st["tasks"])
    sys.exit(0 if ok and st["tasks"] else 1)
