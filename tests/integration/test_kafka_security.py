"""Kafka with SCRAM over TLS and ACLs (`gxctl stack up --secure`, stack/kafka_security.py), on a
broker of its own: unauthenticated and wrongly authenticated clients are refused, and each
principal can do its job and nothing else. The Kafka layer of issue 33's security tests: the
dead-letter replayer and the SDK's direct producer are principals of their own, and no secret is
on a command line while the broker's storage is formatted."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException, Message

from gxcommon.kafka import AdminClient, Consumer, Producer
from stack.kafka import Kafka
from stack.mode import make_secure
from stack.settings import StackSettings
from tests.integration.workers import free_port


class CmdlineWatch:
    """Every command line of every process (/proc/*/cmdline), read every few milliseconds in a
    thread, that contains ``secret``."""

    def __init__(self, secret: str) -> None:
        self.secret, self.scans = secret.encode(), 0
        self.hits: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for f in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    line = f.read_bytes()
                except OSError:
                    continue
                if self.secret in line:
                    self.hits.append(line.replace(b"\0", b" ").decode(errors="replace")[:200])
            self.scans += 1
            self._stop.wait(0.005)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


WATCH: dict[str, CmdlineWatch] = {}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kafka]:
    state = tmp_path_factory.mktemp("secure") / "state"
    s = StackSettings(state_dir=state, kafka_port=free_port(), kafka_controller_port=free_port(), pg_dsn=None)
    k = Kafka(s)
    make_secure(s, {"kafka": k.data / "meta.properties"})
    # The broker's storage is formatted, its admin's SCRAM credential made, while this watches.
    WATCH["format"] = CmdlineWatch(k.users()["gx-admin"])
    try:
        k.up()
    finally:
        WATCH["format"].stop()
    try:
        admin_conf = {"bootstrap.servers": k.bootstrap, **k.client_conf()}
        from confluent_kafka.admin import NewTopic

        admin = AdminClient(admin_conf)
        names = (
            "gx.commands",
            "gx.commands.direct",
            "gx.command-results",
            "gx.commands.dlq",
            "gx.fabric.events",
            "gx.projections.dlq",
            "gx.dlq.replays",
        )
        for fut in admin.create_topics([NewTopic(t, 2, 1) for t in names]).values():
            fut.result(30)
        yield k
    finally:
        k.down()


def produce(k: Kafka, user: str | None, topic: str, conf: dict | None = None) -> str | None:
    """Produce one record as ``user``; returns the delivery error's name, or None if delivered."""
    errors: list = []
    p = Producer(
        {
            "bootstrap.servers": k.bootstrap,
            "message.timeout.ms": 10000,
            **(k.client_conf(user) if user else {}),
            **(conf or {}),
        }
    )
    p.produce(topic, b"v", key=b"k", on_delivery=lambda err, msg: errors.append(err))
    p.flush(15)
    return errors[0].name() if errors and errors[0] else (None if errors else "NOT_DELIVERED")


def first_poll(k: Kafka, user: str, group: str, topic: str, timeout: float) -> Message | None:
    """The first record or error a consumer of ``group`` logged in as ``user`` gets (None: nothing)."""
    c = Consumer(
        {"bootstrap.servers": k.bootstrap, "group.id": group, "auto.offset.reset": "earliest", **k.client_conf(user)}
    )
    try:
        c.subscribe([topic])
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = c.poll(1)
            if m is not None:
                return m
        return None
    finally:
        c.close()


def test_a_client_without_credentials_is_refused(broker: Kafka) -> None:
    admin = AdminClient(
        {"bootstrap.servers": broker.bootstrap, "socket.timeout.ms": 5000, "security.protocol": "PLAINTEXT"}
    )
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=5)
    seen: list[KafkaError] = []
    conf = {**broker.client_conf("gx-submitter"), "sasl.password": "wrong", "error_cb": seen.append}
    admin = AdminClient({"bootstrap.servers": broker.bootstrap, **conf})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=10)
    admin.poll(1)  # serves the error callback
    assert any(e.code() == KafkaError._AUTHENTICATION for e in seen), seen


def test_a_projector_cannot_write_commands_but_reads_events_and_writes_its_dead_letters(broker: Kafka) -> None:
    assert produce(broker, "gx-projector-ledger", "gx.commands") == "TOPIC_AUTHORIZATION_FAILED"
    assert produce(broker, "gx-projector-ledger", "gx.projections.dlq") is None
    assert produce(broker, "gx-connect", "gx.commands") is None
    assert produce(broker, None, "gx.fabric.events", broker.client_conf()) is None  # the admin
    got = first_poll(broker, "gx-projector-ledger", "gx-pipeline-projector-ledger", "gx.fabric.events", 30)
    assert got is not None and not got.error() and got.value() == b"v"
    # Another group's name is not the projector's.
    got = first_poll(broker, "gx-projector-ledger", "gx-pipeline-submitter", "gx.fabric.events", 20)
    assert got is not None and (error := got.error()) is not None and error.name() == "GROUP_AUTHORIZATION_FAILED"


def test_the_cli_names_an_acl_denial(broker: Kafka) -> None:
    """gxsdk's produce as a projector: one line naming the topic and the refusal."""
    env = {**broker.client_env("gx-projector-ledger"), "GX_KAFKA_BOOTSTRAP": broker.bootstrap}
    code = (
        "from gxsdk import produce; from gxcommon.kafka import Producer; from schemas.examples import example\n"
        f"p = Producer({{'bootstrap.servers': '{broker.bootstrap}'}})\n"
        "errs = []\n"
        "produce(p, 'gx.commands', tenant_id='t', service='s', command_type='CREATE_USER', request_id='r1',"
        " payload=example('CREATE_USER', 1), on_delivery=lambda e, m: errs.append(e))\n"
        "p.flush(15); print(errs[0].name() if errs and errs[0] else 'delivered')"
    )
    import os

    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env={**os.environ, **env}
    )
    assert proc.stdout.strip() == "TOPIC_AUTHORIZATION_FAILED", proc.stdout + proc.stderr


def test_secrets_are_private_files(broker: Kafka) -> None:
    for name in ("users.json", "broker.pem"):
        assert (broker.secrets / name).stat().st_mode & 0o777 == 0o600
    users = json.loads((broker.secrets / "users.json").read_text())
    assert {"gx-admin", "gx-submitter", "gx-connect", "gx-projector-ledger"} <= set(users)


def test_no_secret_is_on_a_command_line_while_the_storage_is_formatted(broker: Kafka) -> None:
    """Finding 4: the storage tool got the admin's SCRAM password as `--add-scram ...password=...`,
    which any local user could read in /proc/PID/cmdline while it ran. The JVM of the format ran for
    seconds; the watch read every command line hundreds of times meanwhile."""
    watch = WATCH["format"]
    assert watch.scans > 100, watch.scans
    assert watch.hits == [], watch.hits
    assert not (broker.secrets / "storage-format.args").exists()  # the argument file is gone after


def test_the_replayer_writes_back_to_source_topics_and_its_audit_topic_only(broker: Kafka) -> None:
    """Finding 3: `gxctl dlq replay` runs as gx-dlq-replayer, not the super user: it may send a
    record back to a source topic and record that, and cannot plant a dead letter nor administer."""
    r = "gx-dlq-replayer"
    for topic in ("gx.commands", "gx.commands.direct", "gx.command-results", "gx.fabric.events", "gx.dlq.replays"):
        assert produce(broker, r, topic) is None, topic
    for topic in ("gx.commands.dlq", "gx.projections.dlq"):
        assert produce(broker, r, topic) == "TOPIC_AUTHORIZATION_FAILED", topic
    # Nobody else writes the audit topic (a projector cannot forge a replay's record).
    assert produce(broker, "gx-projector-ledger", "gx.dlq.replays") == "TOPIC_AUTHORIZATION_FAILED"
    got = first_poll(broker, r, "gxctl-dlq-test", "gx.projections.dlq", 20)
    assert got is None or not got.error(), got.error() if got else None
    from confluent_kafka.admin import NewTopic

    admin = AdminClient({"bootstrap.servers": broker.bootstrap, **broker.client_conf(r)})
    with pytest.raises(KafkaException, match="AUTHORIZATION_FAILED"):
        admin.create_topics([NewTopic("gx.replayer-made", 1, 1)])["gx.replayer-made"].result(20)


def test_a_services_direct_producer_logs_in_as_its_principal_and_writes_commands_only(broker: Kafka) -> None:
    """Finding 9: gxsdk.command_producer ignored GX_KAFKA_* (it could not reach a secure Kafka), and
    no principal existed for a service that produces directly. As gx-producer it writes
    gx.commands.direct, and nothing else: not gx.commands, where the submitter takes an
    administrative command on the outbox's word (issue 31)."""
    import os

    env = {**broker.client_env("gx-producer"), "GX_KAFKA_BOOTSTRAP": broker.bootstrap}
    code = (
        "import sys\n"
        "from gxsdk import command_producer, produce\n"
        "from schemas.examples import example\n"
        "results = []\n"
        "for topic in ('gx.commands.direct', 'gx.commands', 'gx.fabric.events'):\n"
        f"    p = command_producer('{broker.bootstrap}', **{{'message.timeout.ms': 10000}})\n"
        "    errs = []\n"
        "    produce(p, topic, tenant_id='t', service='svc-direct', command_type='CREATE_USER', request_id='r1',"
        " payload=example('CREATE_USER', 1), on_delivery=lambda e, m: errs.append(e))\n"
        "    p.flush(15)\n"
        "    results.append(errs[0].name() if errs and errs[0] else ('delivered' if errs else 'NOT_DELIVERED'))\n"
        "print(' '.join(results))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=90, env={**os.environ, **env}
    )
    assert proc.stdout.strip() == "delivered TOPIC_AUTHORIZATION_FAILED TOPIC_AUTHORIZATION_FAILED", (
        proc.stdout + proc.stderr[-2000:]
    )
