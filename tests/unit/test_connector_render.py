import pytest

from connectors.errors import RenderError
from connectors.render import load, masked, render
from gxcommon.topics import TopicSettings

VALUES = {
    "pg.host": "127.0.0.1",
    "pg.port": "25432",
    "pg.user": "gx",
    "pg.password": "a/b=c@d%e",
    "pg.dbname": "gx",
    "topic.commands": "gx.commands",
}


def test_every_choice_is_explicit_in_the_yaml() -> None:
    cfg = render(load(), VALUES)["config"]
    assert cfg["plugin.name"] == "pgoutput"
    assert cfg["publication.autocreate.mode"] == "disabled"  # created by apply: inserts only
    assert cfg["table.include.list"] == "public.OutboxCommand"
    assert cfg["skipped.operations"] == "u,d,t"
    assert cfg["transforms.outbox.type"] == "io.debezium.transforms.outbox.EventRouter"
    assert cfg["transforms.outbox.table.expand.json.payload"] == "true"
    assert cfg["transforms.outbox.route.topic.replacement"] == "gx.commands"
    assert int(cfg["heartbeat.interval.ms"]) > 0
    assert cfg["heartbeat.action.query"].startswith("SELECT pg_logical_emit_message(false,")  # writes no table
    assert int(cfg["poll.interval.ms"]) < 100  # the default 500 is slower than the poller it replaces
    placement = cfg["transforms.outbox.table.fields.additional.placement"].split(",")
    assert " " not in cfg["transforms.outbox.table.fields.additional.placement"]
    for h in ("commandType", "requestId", "tenantId", "service"):
        assert f"{h}:header:{h}" in placement
    assert "partitionKey:envelope:key" in placement


def test_the_password_is_passed_verbatim_and_masked_for_printing() -> None:
    rendered = render(load(), VALUES)
    assert rendered["config"]["database.password"] == "a/b=c@d%e"
    assert masked(rendered)["config"]["database.password"] == "****"
    assert "a/b=c@d%e" not in str(masked(rendered))


def test_a_missing_value_is_named() -> None:
    values = {k: v for k, v in VALUES.items() if k != "pg.password"}
    with pytest.raises(RenderError, match=r"\$\{pg.password\} \(in database.password\)"):
        render(load(), values)


def test_no_secret_is_written_in_the_yaml() -> None:
    doc = load()
    assert doc["config"]["database.password"] == "${pg.password}"


def test_deploy_sends_a_provider_reference_never_the_password(tmp_path, monkeypatch) -> None:
    """What deploy_outbox PUTs to Connect: a reference as given, ${env:NAME} or ${file:PATH:KEY};
    the password itself only in the 0600 file. Without a provider nothing is sent (issue 33,
    finding 1: before, the password went to Connect as is, into its REST answers and config topic)."""
    from connectors import deploy
    from connectors.deploy import PasswordSource, PlaintextPasswordError

    sent: list[dict] = []
    monkeypatch.setattr(deploy, "ensure_publication", lambda dsn, name: None)

    def apply(url: str, name: str, config: dict, timeout: float) -> dict:
        sent.append(config)
        return {}

    monkeypatch.setattr(deploy.connect_api, "apply", apply)
    pg = {"host": "h", "port": 5432, "user": "gx_cdc", "password": "s3cr/t=@", "dbname": "gx"}
    ref = "${secrets:gx/gx-postgres-roles:gx_cdc}"
    deploy.deploy_outbox("dsn", pg, "http://c", "gx.commands", PasswordSource(env="GX_OUTBOX_DB_PASSWORD"))
    deploy.deploy_outbox("dsn", pg, "http://c", "gx.commands", PasswordSource(secrets_dir=tmp_path))
    deploy.deploy_outbox("dsn", pg, "http://c", "gx.commands", PasswordSource(reference=ref, secrets_dir=tmp_path))
    assert sent[0]["database.password"] == "${env:GX_OUTBOX_DB_PASSWORD}"
    assert sent[1]["database.password"] == f"${{file:{tmp_path}/gx-outbox.properties:database.password}}"
    assert sent[2]["database.password"] == ref
    assert all("s3cr/t=@" not in str(c) for c in sent)
    assert (tmp_path / "gx-outbox.properties").read_text() == "database.password=s3cr/t=@\n"
    with pytest.raises(
        PlaintextPasswordError, match=r"GX_CONNECT_PASSWORD_REF.*GX_CONNECT_PASSWORD_ENV or GX_CONNECT_SECRETS_DIR"
    ):
        deploy.deploy_outbox("dsn", pg, "http://c", "gx.commands", PasswordSource())
    assert len(sent) == 3


def test_debezium_connects_with_the_dsns_sslmode(tmp_path) -> None:
    """Issue 33, finding 6: Debezium's own default (prefer) never checked the server; it now takes
    the sslmode every other process has (the chart's require or verify-full)."""
    from connectors.deploy import PasswordSource, connector_config
    from gxcommon.dsn import pg_parts

    pg = {**pg_parts("postgresql://gx_cdc@db:5432/gx?sslmode=verify-full"), "password": "p"}
    _, config = connector_config(pg, "gx.commands", PasswordSource(env="X"))
    assert config["database.sslmode"] == "verify-full"
    _, config = connector_config({**pg, "query": {}}, "gx.commands", PasswordSource(env="X"))
    assert "database.sslmode" not in config


def test_init_refuses_a_plaintext_connector_password_before_any_step(monkeypatch) -> None:
    """`gxctl init` without a provider stops before the migrations, not after the topics."""
    from connectors.deploy import PasswordSource, PlaintextPasswordError
    from stack import init as init_module

    steps: list[str] = []

    def migrate_and_grant(dsn: str) -> tuple[list[str], bool]:
        steps.append("migrate")
        return [], False

    monkeypatch.setattr(init_module, "migrate_and_grant", migrate_and_grant)
    with pytest.raises(PlaintextPasswordError):
        init_module.init("postgresql://gx@h/gx", "k:9092", "http://c", TopicSettings(), PasswordSource())
    assert steps == []


def test_the_poll_interval_can_be_chosen_per_deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    """GX_CONNECT_POLL_MS replaces the YAML's poll.interval.ms; unset, the YAML's stands; 0 is refused by name."""
    from pydantic import ValidationError

    from connectors.render import outbox
    from gxcommon.settings import ConnectionSettings

    pg = {k.removeprefix("pg."): v for k, v in VALUES.items() if k.startswith("pg.")}
    default = render(load(), VALUES)["config"]["poll.interval.ms"]
    assert outbox(pg, "gx.commands")["config"]["poll.interval.ms"] == default
    monkeypatch.setenv("GX_CONNECT_POLL_MS", "5")
    assert outbox(pg, "gx.commands", poll_ms=ConnectionSettings().connect_poll_ms)["config"]["poll.interval.ms"] == "5"
    monkeypatch.setenv("GX_CONNECT_POLL_MS", "0")
    with pytest.raises(ValidationError, match="connect_poll_ms"):
        ConnectionSettings()
