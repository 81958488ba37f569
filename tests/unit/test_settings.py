"""Settings: one base for every model, and nothing outside them reads a GX_* variable."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from pydantic import SecretStr

from gxcommon.fabric_settings import FabricSettings
from gxcommon.settings import CliSettings, ConnectionSettings, GxSettings
from gxcommon.topics import TopicSettings
from gxcommon.worker_settings import WorkerSettings
from stack.settings import StackSettings

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "gxctl",
    "gxcommon",
    "gxsdk",
    "schemas",
    "connectors",
    "fabric_gateway",
    "streams",
    "projections",
    "stack",
    "bench",
)
# A read of a GX_* variable by hand: os.environ["GX_..."], os.environ.get("GX_...") or os.getenv("GX_...").
READ = re.compile(r"""(os\.environ(\.get)?\s*[\[(]|os\.getenv\s*\(|environ\.get\s*\()\s*['"]GX_""")


def test_every_settings_model_shares_one_base_and_connections_are_declared_once() -> None:
    for model in (ConnectionSettings, WorkerSettings, CliSettings, StackSettings, TopicSettings, FabricSettings):
        assert issubclass(model, GxSettings), model
    for field in ("pg_dsn", "kafka_bootstrap", "connect_url", "pg_password_file"):
        owners = [
            m.__name__
            for m in (WorkerSettings, StackSettings, TopicSettings, FabricSettings)
            if field in inspect.get_annotations(m)
        ]
        assert owners == [], f"{field} redeclared in {owners}; it belongs to ConnectionSettings"


def test_nothing_but_the_settings_models_reads_gx_variables() -> None:
    offenders = []
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if READ.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []


def test_the_check_itself_catches_a_hand_read(tmp_path: Path) -> None:
    assert READ.search('x = os.environ.get("GX_PG_DSN")') and READ.search("os.getenv('GX_DEBUG')")
    assert not READ.search('env={**os.environ, "GX_WEB_PORT": "1"}')  # passing variables on is not reading


def test_the_sdk_exports_functions_whatever_the_import_order() -> None:
    """gxsdk's names load on first use; ``produce`` is the function, not the gxsdk.produce module."""
    import subprocess
    import sys

    code = (
        "import types; from gxsdk import command_producer, produce, enqueue, IdempotencyConflict; "
        "assert callable(produce) and not isinstance(produce, types.ModuleType); print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_kafka_security_is_empty_for_plaintext_and_complete_for_sasl_ssl(tmp_path) -> None:
    import pytest

    from gxcommon.settings import ConnectionSettings
    from gxerrors import GxError

    assert ConnectionSettings(kafka_security_protocol="PLAINTEXT").kafka_security() == {}
    with pytest.raises(GxError, match="needs GX_KAFKA_PASSWORD or GX_KAFKA_PASSWORD_FILE, GX_KAFKA_CA_FILE"):
        ConnectionSettings(kafka_security_protocol="SASL_SSL", kafka_username="u").kafka_security()
    with pytest.raises(GxError, match="PLAINTEXT or SASL_SSL"):
        ConnectionSettings(kafka_security_protocol="SSL").kafka_security()
    ca = tmp_path / "ca.pem"
    sec = ConnectionSettings(
        kafka_security_protocol="sasl_ssl",
        kafka_username="gx-submitter",
        kafka_password=SecretStr("s3cr=t"),
        kafka_ca_file=ca,
    ).kafka_security()
    assert sec == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "gx-submitter",
        "sasl.password": "s3cr=t",
        "ssl.ca.location": str(ca),
        "ssl.endpoint.identification.algorithm": "https",
    }
    # From a file (what the local stack hands out, so no environment holds the password); a missing
    # file is named.
    pw = tmp_path / "gx-submitter.password"
    pw.write_text("fr0m:file\n")
    assert (
        ConnectionSettings(
            kafka_security_protocol="SASL_SSL", kafka_username="gx-submitter", kafka_password_file=pw, kafka_ca_file=ca
        ).kafka_security()["sasl.password"]
        == "fr0m:file"
    )
    with pytest.raises(GxError, match=r"GX_KAFKA_PASSWORD_FILE .*nope"):
        ConnectionSettings(
            kafka_security_protocol="SASL_SSL",
            kafka_username="u",
            kafka_password_file=tmp_path / "nope",
            kafka_ca_file=ca,
        ).kafka_security()
    # The password is a secret: never in the settings' repr.
    assert "s3cr=t" not in repr(ConnectionSettings(kafka_password=SecretStr("s3cr=t")))


def test_the_clis_kafka_timeout_is_each_calls_own_unless_set(monkeypatch) -> None:
    import pytest
    from pydantic import ValidationError

    monkeypatch.delenv("GX_KAFKA_TIMEOUT_S", raising=False)
    assert CliSettings().kafka_timeout() == {}
    monkeypatch.setenv("GX_KAFKA_TIMEOUT_S", "1.5")
    assert CliSettings().kafka_timeout() == {"timeout": 1.5}
    monkeypatch.setenv("GX_KAFKA_TIMEOUT_S", "0")
    with pytest.raises(ValidationError, match="kafka_timeout_s"):
        CliSettings()


def test_the_sdks_direct_producer_logs_in_as_the_process_settings_say(monkeypatch) -> None:
    """Issue 33, finding 9: gxsdk.command_producer built its producer without GX_KAFKA_*, so a
    service could not produce to a secure Kafka at all (or did so unauthenticated)."""
    import confluent_kafka

    from gxcommon.settings import connection_settings
    from gxsdk import command_producer

    made: list[dict] = []
    monkeypatch.setattr(confluent_kafka, "Producer", lambda conf: made.append(conf))
    for k, v in {
        "GX_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "GX_KAFKA_USERNAME": "gx-producer",
        "GX_KAFKA_PASSWORD": "pw",
        "GX_KAFKA_CA_FILE": "/ca.crt",
    }.items():
        monkeypatch.setenv(k, v)
    connection_settings.cache_clear()
    try:
        command_producer("k:9093")
    finally:
        connection_settings.cache_clear()
    (conf,) = made
    assert conf["sasl.username"] == "gx-producer" and conf["security.protocol"] == "SASL_SSL"
    assert conf["enable.idempotence"] is True and conf["partitioner"] == "murmur2_random"
