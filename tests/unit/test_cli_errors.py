"""`gxctl` as a user runs it (the installed entry point, a subprocess): bad input and unreachable or
misconfigured services give one clear line and the right exit status, never a traceback.

The services are "unreachable" by pointing GX_* at loopback ports nothing listens on. Postgres and
Connect are refused at once; a Kafka client retries until its timeout, so GX_KAFKA_TIMEOUT_S makes
that 1 s instead of the commands' 10-30 s (the same error, sooner).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.identities import throwaway_identity

GXCTL = str(Path(sys.executable).parent / "gxctl")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # free once the socket closes: nothing listens there


@pytest.fixture(scope="module")
def nowhere(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment whose every service is a closed loopback port, with a client identity."""
    d = tmp_path_factory.mktemp("id")
    cert, key = throwaway_identity(d)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GX_")}
    return {
        **env,
        "GX_STATE_DIR": str(d / "no-stack"),
        "GX_PG_DSN": f"postgresql://gx:pw@127.0.0.1:{closed_port()}/gx",
        "GX_KAFKA_BOOTSTRAP": f"127.0.0.1:{closed_port()}",
        "GX_CONNECT_URL": f"http://127.0.0.1:{closed_port()}",
        "GX_FABRIC_GATEWAY": f"127.0.0.1:{closed_port()}",
        "GX_FABRIC_CERT": str(cert),
        "GX_FABRIC_KEY": str(key),
        "GX_KAFKA_TIMEOUT_S": "1",
        "GX_CONNECT_PASSWORD_ENV": "GX_OUTBOX_DB_PASSWORD",  # where Connect would read the connector's password
        "GX_FABRIC_INSECURE_PLAINTEXT": "1",  # a closed port, not a peer without TLS: no root to verify with
    }


def gxctl(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GXCTL, *args], capture_output=True, text=True, env=env, timeout=timeout)


def one_clear_line(proc: subprocess.CompletedProcess[str], status: int, *words: str) -> None:
    out = proc.stderr.strip()
    assert proc.returncode == status, (proc.returncode, proc.stdout, out)
    assert "Traceback" not in out + proc.stdout and "%3|" not in out and "%4|" not in out, out
    lines = out.splitlines()
    assert len(lines) == 1, out
    for w in words:
        assert w in lines[0], out


USER = '{"userId":"u1","email":"u1@example.com","firstName":"A","lastName":"B","country":"MY"}'
ENQUEUE = ["commands", "enqueue", "--tenant", "t", "--service", "s", "--request-id", "r"]


@pytest.mark.parametrize(
    "payload, words",
    [
        ("null", ["got null"]),
        ("5", ["got a number"]),
        ("[1,2]", ["got an array"]),
        ("[]", ["got an array"]),
        ('"str"', ["got a string"]),
        ("{not json", ["--payload: not JSON"]),
        ('{"userId":"u1"}', ["email: Field required"]),
    ],
)
def test_bad_payloads_exit_2_naming_the_problem_before_any_connection(
    nowhere: dict[str, str], payload: str, words: list[str]
) -> None:
    one_clear_line(gxctl(nowhere, *ENQUEUE, "--type", "CREATE_USER", "--payload", payload), 2, *words)


def test_command_types_any_case_and_typos_suggested(nowhere: dict[str, str]) -> None:
    one_clear_line(
        gxctl(nowhere, *ENQUEUE, "--type", "CREATE_WIDGET", "--payload", "{}"),
        2,
        "unknown command type 'CREATE_WIDGET'",
        "did you mean CREATE_USER",
    )
    # lower case is CREATE_USER: valid input, so it gets as far as the (unreachable) database
    one_clear_line(gxctl(nowhere, *ENQUEUE, "--type", "create_user", "--payload", USER), 1, "cannot use Postgres")
    one_clear_line(gxctl(nowhere, "schemas", "show", "transfer-tokenz"), 2, "did you mean TRANSFER_TOKENS")
    shown = gxctl(nowhere, "schemas", "show", "transfer_tokens")
    assert shown.returncode == 0 and "fromWalletId" in shown.stdout and '"amount": 25' in shown.stdout
    listed = gxctl(nowhere, "schemas", "list", "--json")
    assert listed.returncode == 0 and len(__import__("json").loads(listed.stdout)) == 25


def test_usage_errors_exit_2(nowhere: dict[str, str]) -> None:
    proc = gxctl(nowhere, "comands", "show", "x")
    assert proc.returncode == 2 and "Did you mean: commands" in proc.stderr and "Traceback" not in proc.stderr
    proc = gxctl(nowhere, "projections", "rebuild", "ledgr")
    one_clear_line(proc, 1, "unknown projection group 'ledgr'")


@pytest.mark.parametrize(
    "args, words",
    [
        (["commands", "show", "r1"], ["cannot use Postgres at 127.0.0.1:", "gxctl up"]),
        (["init"], ["cannot use Postgres"]),
        (["topics", "apply"], ["Kafka at 127.0.0.1:"]),
        (["dlq", "replay", "0", "5"], ["Kafka at 127.0.0.1:"]),
        (["connectors", "apply"], ["cannot use Postgres"]),  # it reads the database's settings first
        (["db", "migrate"], ["cannot use Postgres"]),
        (["projections", "status"], ["cannot use Postgres"]),
        (["projections", "wait", "--request-id", "r1", "--timeout", "1"], ["cannot use Postgres"]),
        (["demo"], ["cannot use Postgres"]),
        (["dlq", "list"], ["Kafka at 127.0.0.1:", "gxctl up"]),
        (["topics", "describe"], ["Kafka at 127.0.0.1:"]),
        (["connectors", "status"], ["Kafka Connect at http://127.0.0.1:", "unreachable"]),
        (["verify", "--settle", "0"], ["Fabric peer at 127.0.0.1:", "did not answer"]),
    ],
)
def test_an_unreachable_service_is_one_line_naming_it(
    nowhere: dict[str, str], args: list[str], words: list[str]
) -> None:
    one_clear_line(gxctl(nowhere, *args), 1, *words)


def test_a_peer_without_a_tls_root_is_refused_naming_the_settings(nowhere: dict[str, str]) -> None:
    """Issue 33, finding 9: no silent plaintext channel to the peer."""
    tls = {k: v for k, v in nowhere.items() if k != "GX_FABRIC_INSECURE_PLAINTEXT"}
    one_clear_line(gxctl(tls, "verify", "--settle", "0"), 1, "GX_FABRIC_TLS_ROOT is not set", "plaintext")


def test_a_connector_password_without_a_provider_is_refused_before_any_step(nowhere: dict[str, str]) -> None:
    """Issue 33, finding 1: the password would go to Connect in clear; nothing is tried."""
    clear = {k: v for k, v in nowhere.items() if k != "GX_CONNECT_PASSWORD_ENV"}
    for args in (["init"], ["connectors", "apply"]):
        one_clear_line(
            gxctl(clear, *args), 1, "no config provider for its database password", "GX_CONNECT_PASSWORD_REF"
        )


def test_a_malformed_dsn_and_missing_settings_are_named(nowhere: dict[str, str], tmp_path: Path) -> None:
    one_clear_line(gxctl({**nowhere, "GX_PG_DSN": "mysql://x@y/z"}, "commands", "show", "r1"), 1, "GX_PG_DSN")
    bare = {k: v for k, v in nowhere.items() if not k.startswith("GX_")} | {"GX_STATE_DIR": str(tmp_path / "none")}
    one_clear_line(gxctl(bare, "commands", "show", "r1"), 1, "GX_PG_DSN not set", "no local stack", "gxctl up")
    verbose = gxctl(bare, "-v", "commands", "show", "r1")
    assert "settings: none set, and no local stack at" in verbose.stderr


def test_a_setting_of_the_wrong_type_is_named_with_its_value(nowhere: dict[str, str]) -> None:
    one_clear_line(
        gxctl({**nowhere, "GX_CONNECT_POLL_MS": "0"}, "connectors", "render"),
        1,
        "GX_CONNECT_POLL_MS=0: Input should be greater than 0",
    )
    one_clear_line(
        gxctl({**nowhere, "GX_TOPIC_PARTITIONS": "many"}, "topics", "apply"),
        1,
        "GX_TOPIC_PARTITIONS=many: Input should be a valid integer",
    )


def test_debug_shows_the_traceback_and_version_answers(nowhere: dict[str, str]) -> None:
    proc = gxctl({**nowhere, "GX_DEBUG": "1"}, "commands", "show", "r1")
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "cannot use Postgres" in proc.stderr
    version = gxctl(nowhere, "--version")
    assert version.returncode == 0 and version.stdout.startswith("gxctl 0.")


def test_help_imports_no_command(nowhere: dict[str, str]) -> None:
    heavy = "('faust', 'psycopg', 'confluent_kafka', 'grpc')"
    code = f"import sys; from gxctl.main import cli; print(sorted(m for m in sys.modules if m.startswith({heavy})))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=nowhere)
    assert proc.stdout.strip() == "[]", proc.stdout
