"""Bad situations at `stack up` give a message naming the problem and the fix, never a hang."""

import os
import socket
from pathlib import Path

import pytest

from stack import jars
from stack.errors import StackError
from stack.kafka import Kafka
from stack.manager import Stack
from stack.postgres import external_problem
from stack.settings import StackSettings


def settings(tmp_path: Path, **kw) -> StackSettings:
    return StackSettings(state_dir=tmp_path / "state", cache_dir=tmp_path / "cache", **kw)


def test_a_taken_port_names_the_port_and_the_variable(tmp_path: Path) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    port = s.getsockname()[1]
    try:
        with pytest.raises(StackError) as e:
            Kafka(settings(tmp_path, kafka_port=port)).up()
    finally:
        s.close()
    assert f"port {port}" in str(e.value)
    assert "GX_KAFKA_PORT" in str(e.value)


def test_missing_java_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(StackError, match="apt-get install -y openjdk-17"):
        jars.require_java()


def test_missing_maven_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(StackError, match="apt-get install -y maven"):
        jars.resolve("kafka", tmp_path)


def test_a_half_written_kafka_dir_is_named_with_the_fix(tmp_path: Path) -> None:
    k = Kafka(settings(tmp_path))
    k.data.mkdir(parents=True)
    (k.data / "junk").write_text("x")
    with pytest.raises(StackError, match="half-written Kafka log dir") as e:
        k._format("java", tmp_path)
    assert "gxctl stack down --purge" in str(e.value)


def test_an_unknown_component_is_refused() -> None:
    with pytest.raises(StackError, match="unknown component"):
        Stack(StackSettings())._select(["zookeeper"])


@pytest.mark.parametrize(
    ("wal", "slots", "want"),
    [
        ("replica", 10, "wal_level=replica"),
        ("logical", 2, "max_replication_slots=2"),
        ("logical", 10, None),
    ],
)
def test_an_external_postgres_is_checked_for_logical_replication(wal: str, slots: int, want: str | None) -> None:
    problem = external_problem(wal, slots)
    if want is None:
        assert problem is None
    else:
        assert problem is not None and want in problem[0] and "ALTER SYSTEM" in problem[1]


def test_env_points_at_the_configured_ports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GX_PG_DSN", raising=False)
    env = Stack(settings(tmp_path, kafka_port=1234, connect_port=4321)).env()
    assert env["GX_KAFKA_BOOTSTRAP"] == "127.0.0.1:1234"
    assert env["GX_CONNECT_URL"] == "http://127.0.0.1:4321"
    assert "GX_PG_DSN" not in env  # no cluster initialised in this state dir yet
    assert os.path.isabs(env["GX_STATE_DIR"])


def test_default_and_test_ports_are_distinct_and_outside_the_ephemeral_range() -> None:
    """A listening port inside 32768-60999 can be taken by any outgoing connection's local port."""
    import re
    from pathlib import Path

    from stack.settings import StackSettings
    from stack.workers import WORKERS

    defaults = {k: f.default for k, f in StackSettings.model_fields.items()}  # not the test run's own
    user = [v for k, v in defaults.items() if k.endswith("_port")]
    user += [defaults["worker_port_base"] + i for i in range(len(WORKERS))]
    script = (Path(__file__).resolve().parents[2] / "scripts" / "test.sh").read_text()
    test = [int(v) for v in re.findall(r"GX_\w+_PORT=(\d+)", script)]
    # Every port of the stack is moved for the tests (else the tests' stack takes the user's).
    moved = {m.lower() for m in re.findall(r"GX_(\w+_PORT)=\d+", script)}
    assert {k for k in defaults if k.endswith("_port")} <= moved, {k for k in defaults if k.endswith("_port")} - moved
    found = re.search(r"GX_WORKER_PORT_BASE=(\d+)", script)
    assert found, "scripts/test.sh sets no GX_WORKER_PORT_BASE"
    base = int(found.group(1))
    test += [base + i for i in range(len(WORKERS))]
    for ports in (user, test):
        assert all(p < 32768 for p in ports), sorted(p for p in ports if p >= 32768)
    assert len(set(user)) == len(user) and len(set(test)) == len(test)
    assert not set(user) & set(test)  # the tests' stack runs beside the user's


def test_a_kraft_cluster_id_never_looks_like_an_option() -> None:
    """One fresh CI run failed at `kafka-storage format -t -...`: 1 cluster id in 64 began with '-'."""
    from stack.kafka import new_cluster_id

    ids = [new_cluster_id() for _ in range(2000)]
    assert not any(i.startswith("-") for i in ids) and all(len(i) == 22 for i in ids)
