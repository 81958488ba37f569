"""What the local stack's processes are given (issue 33): no secret on a command line, and each
process only its own credentials. The pure parts; the running stack's processes are read in
tests/integration/secure/test_stack_hardening.py."""

from __future__ import annotations

import shlex
from pathlib import Path

from stack.kafka import argfile_text, java_argv, with_argfile

SECRET = 'p4ss "w\\rd" =@/'


def test_a_java_argument_file_quotes_every_argument_as_the_launcher_reads_it() -> None:
    text = argfile_text(["Main", "--add-scram", f"SCRAM-SHA-512=[name=gx-admin,password={SECRET}]"])
    assert text.splitlines() == [
        '"Main"',
        '"--add-scram"',
        '"SCRAM-SHA-512=[name=gx-admin,password=p4ss \\"w\\\\rd\\" =@/]"',
    ]


def test_the_storage_tools_secret_goes_into_a_private_argument_file_not_argv(tmp_path: Path) -> None:
    """Finding 4: `--add-scram ...password=...` was in the storage tool's argv, readable in
    /proc/PID/cmdline by any local user while it ran."""
    argv = java_argv("java", "256m", tmp_path, "kafka.tools.StorageTool", "format", "--add-scram", f"x={SECRET}")
    moved = with_argfile(argv, "kafka.tools.StorageTool", tmp_path / "f.args")
    assert moved[-1] == f"@{tmp_path / 'f.args'}" and moved[:-1] == argv[: argv.index("kafka.tools.StorageTool")]
    assert not any(SECRET in a or "kafka.tools.StorageTool" in a for a in moved)
    assert (tmp_path / "f.args").stat().st_mode & 0o777 == 0o600
    assert SECRET not in shlex.join(moved)


# -- finding 5: each process only its own credentials --------------------------------------------

STACK_ENV = {
    "GX_STATE_DIR": "/s",
    "GX_PG_DSN": "postgresql://gx_owner@127.0.0.1:26432/gx?passfile=/s/secrets/pgpass.d/gx_owner",
    "GX_PG_CDC_DSN": "postgresql://gx_cdc@127.0.0.1:26432/gx?passfile=/s/secrets/pgpass.d/gx_cdc",
    "GX_KAFKA_BOOTSTRAP": "127.0.0.1:30092",
    "GX_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "GX_KAFKA_USERNAME": "gx-admin",
    "GX_KAFKA_PASSWORD_FILE": "/s/secrets/kafka/gx-admin.password",
    "GX_KAFKA_REPLAY_USERNAME": "gx-dlq-replayer",
    "GX_KAFKA_REPLAY_PASSWORD_FILE": "/s/secrets/kafka/gx-dlq-replayer.password",
    "GX_CONNECT_URL": "http://127.0.0.1:29083",
    "GX_CONNECT_USERNAME": "gx-admin",
    "GX_CONNECT_PASSWORD_FILE": "/s/secrets/connect/rest-admin.password",
    "GX_CONNECT_SECRETS_DIR": "/s/secrets/connect",
    "GX_FABRIC_GATEWAY": "127.0.0.1:28051",
    "GX_FABRIC_CHANNEL": "gxchannel",
    "GX_FABRIC_CERT": "/s/fabric/User1-cert.pem",
    "GX_FABRIC_KEY": "/s/fabric/priv_sk",
    "GX_FABRIC_TLS_ROOT": "/s/fabric/ca.crt",
    "GX_FABRIC_TLS_CERT": "/s/fabric/client.crt",
    "GX_FABRIC_TLS_KEY": "/s/fabric/client.key",
}


def test_credentials_are_told_by_name_and_everything_else_passes_on() -> None:
    from stack.environ import is_credential, without_credentials

    creds = {k for k in STACK_ENV if is_credential(k)}
    assert creds == {
        "GX_PG_DSN",
        "GX_PG_CDC_DSN",
        "GX_KAFKA_USERNAME",
        "GX_KAFKA_PASSWORD_FILE",
        "GX_KAFKA_REPLAY_USERNAME",
        "GX_KAFKA_REPLAY_PASSWORD_FILE",
        "GX_CONNECT_USERNAME",
        "GX_CONNECT_PASSWORD_FILE",
        "GX_CONNECT_SECRETS_DIR",
        "GX_FABRIC_CERT",
        "GX_FABRIC_KEY",
        "GX_FABRIC_TLS_CERT",
        "GX_FABRIC_TLS_KEY",
    }
    for other in ("GX_PG_PASSWORD_FILE", "GX_KAFKA_PASSWORD", "GX_CONNECT_PASSWORD_ENV", "GX_CONNECT_PASSWORD_REF"):
        assert is_credential(other), other
    for plain in ("GX_SUBMIT_WINDOW", "GX_WEB_PORT", "GX_PG_PORT", "GX_KAFKA_CA_FILE", "PATH", "GX_PROC"):
        assert not is_credential(plain), plain
    assert without_credentials({"PATH": "/bin", "GX_PG_DSN": "x"}) == {"PATH": "/bin"}


def test_a_worker_gets_the_stacks_settings_and_only_its_own_credentials() -> None:
    """What `gxctl up` gave every worker before: the stack's whole environment, the admin's login
    inherited from the shell, Connect's REST login, Debezium's DSN and the Fabric key (to the
    results writer too). Now the inherited and given variables pass on without any credential."""
    from stack.environ import fabric_identity, process_env

    shell = {"PATH": "/bin", "GX_SUBMIT_WINDOW": "40", **STACK_ENV}  # `eval "$(gxctl stack env)"`
    own = {"GX_PG_DSN": "postgresql://gx_results@h:1/gx?passfile=/s/secrets/pgpass.d/gx_results"}
    env = process_env(shell, STACK_ENV, {**own, "GX_KAFKA_USERNAME": "gx-results-writer"})
    assert env["GX_PG_DSN"] == own["GX_PG_DSN"] and env["GX_KAFKA_USERNAME"] == "gx-results-writer"
    assert env["GX_SUBMIT_WINDOW"] == "40" and env["GX_FABRIC_CHANNEL"] == "gxchannel" and env["PATH"] == "/bin"
    for gone in ("GX_PG_CDC_DSN", "GX_CONNECT_PASSWORD_FILE", "GX_CONNECT_SECRETS_DIR", "GX_FABRIC_KEY"):
        assert gone not in env, gone
    assert "GX_KAFKA_PASSWORD_FILE" not in env  # the admin's, from the shell: not the results writer's
    assert fabric_identity(STACK_ENV) == {
        k: STACK_ENV[k] for k in ("GX_FABRIC_CERT", "GX_FABRIC_KEY", "GX_FABRIC_TLS_CERT", "GX_FABRIC_TLS_KEY")
    }


# -- finding 9: Connect's and the broker's config providers read only their own secrets ------------


def test_connects_config_providers_read_only_the_secrets_folder_and_one_variable(tmp_path: Path) -> None:
    """Before: the FileConfigProvider had no allowed.paths and the EnvVarConfigProvider no
    allowlist, so a connector config could pull any file or variable of Connect's into itself (and
    out, e.g. as a database host)."""
    from stack.connect import Connect
    from stack.settings import StackSettings

    c = Connect(StackSettings(state_dir=tmp_path / "state", pg_dsn=None), "127.0.0.1:1")
    c.home.mkdir(parents=True)
    c._write_props("")
    props = dict(ln.split("=", 1) for ln in c.props.read_text().splitlines() if "=" in ln and not ln.startswith("#"))
    assert props["config.providers"] == "file,env"
    assert props["config.providers.file.param.allowed.paths"] == str(tmp_path / "state" / "secrets" / "connect")
    assert props["config.providers.env.param.allowlist.pattern"] == "^GX_OUTBOX_DB_PASSWORD$"


def test_the_brokers_file_provider_reads_only_its_secrets_folder(tmp_path: Path) -> None:
    from stack.kafka_security import broker_props

    props = broker_props("127.0.0.1", 1, 2, tmp_path, "pw")
    assert f"config.providers.file.param.allowed.paths={tmp_path}\n" in props
    assert "pw" not in props.replace("password", "")


# -- finding 9: the state folder is its owner's only -------------------------------------------------


def test_make_private_takes_every_bit_from_group_and_others_and_follows_no_link(tmp_path: Path) -> None:
    from gxcommon.private_files import make_private

    root = tmp_path / "state"
    (root / "kafka" / "data").mkdir(parents=True)
    seg = root / "kafka" / "data" / "00000.log"
    seg.write_text("x")
    seg.chmod(0o644)
    outside = tmp_path / "outside"
    outside.write_text("y")
    outside.chmod(0o644)
    (root / "link").symlink_to(outside)
    root.chmod(0o755)
    assert make_private(root) == 4  # root, kafka, data, the segment
    assert [oct(p.stat().st_mode & 0o777) for p in (root, root / "kafka", seg)] == ["0o700", "0o700", "0o600"]
    assert outside.stat().st_mode & 0o777 == 0o644
    assert make_private(root) == 0


def test_a_process_log_is_private_from_its_first_line(tmp_path: Path) -> None:
    from stack.procs import Proc

    p = Proc("echo", tmp_path / "run", tmp_path / "logs")
    p.start(["true"])
    assert p.log_file.stat().st_mode & 0o777 == 0o600
