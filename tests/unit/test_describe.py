"""gxctl.errors: the one line and the exit status of a failure, from the error tree and from the
libraries' own classes (tests/unit/test_cli_errors.py runs the same through the installed gxctl)."""

from __future__ import annotations

import subprocess
import sys

import click
import grpc
import psycopg
import pytest
from confluent_kafka import KafkaError, KafkaException
from pydantic import ValidationError

from fabric_gateway import EndorseError
from gxcommon.settings import ConnectionSettings, SettingsError
from gxctl.errors import CommandError, describe, run_cli
from schemas.errors import PayloadError


@pytest.fixture(autouse=True)
def services(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GX_DEBUG", raising=False)  # no traceback on stderr
    for var, value in {
        "GX_PG_DSN": "postgresql://gx:pw@db.example:5433/gx",
        "GX_KAFKA_BOOTSTRAP": "kafka.example:9092",
        "GX_FABRIC_GATEWAY": "peer.example:7051",
    }.items():
        monkeypatch.setenv(var, value)


def test_the_project_s_errors_read_as_their_message() -> None:
    assert describe(SettingsError("GX_PG_DSN not set", "GX_PG_DSN")) == "GX_PG_DSN not set"
    assert describe(EndorseError("chaincode said no", "tx1")) == "chaincode said no [txid tx1]"


def test_a_silent_peer_is_named_with_its_address() -> None:
    line = describe(EndorseError("x", "tx1", grpc.StatusCode.UNAVAILABLE))
    assert line.startswith("Fabric peer at peer.example:7051 did not answer (unavailable); is the stack up?")


def test_library_errors_are_told_apart_by_their_classes() -> None:
    kafka = describe(KafkaException(KafkaError(KafkaError._TRANSPORT, "broker down")))
    assert kafka == "Kafka at kafka.example:9092: broker down; is the stack up? (gxctl up; gxctl status)"
    missing = psycopg.errors.UndefinedTable('relation "OutboxCommand" does not exist')
    assert describe(missing).endswith("run `gxctl db migrate`")
    assert describe(psycopg.OperationalError("connection refused")).startswith(
        "cannot use Postgres at db.example:5433/gx: connection refused"
    )
    with pytest.raises(ValidationError) as invalid:
        ConnectionSettings(connect_poll_ms=0)
    assert describe(invalid.value) == "GX_CONNECT_POLL_MS=0: Input should be greater than 0"
    assert describe(KeyError("x")) == "unexpected KeyError: 'x' (GX_DEBUG=1 shows the traceback)"


@pytest.mark.parametrize(
    "error, status",
    [(PayloadError("CREATE_USER payload", [("email", "Field required")]), 2), (CommandError("no such group"), 1)],
)
def test_bad_input_exits_2_and_a_failure_1(error: Exception, status: int, capsys: pytest.CaptureFixture[str]) -> None:
    @click.command()
    def fails() -> None:
        raise error

    with pytest.raises(SystemExit) as exited:
        run_cli(fails, [])  # type: ignore[arg-type]
    assert exited.value.code == status
    assert capsys.readouterr().err == f"error: {error}\n"


def test_no_library_is_imported_to_describe_an_error() -> None:
    code = (
        "import sys; from gxctl.errors import describe; describe(ValueError('x')); "
        "print(sorted(m for m in ('psycopg', 'confluent_kafka', 'grpc', 'fabric_gateway') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "[]"
