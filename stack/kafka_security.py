"""Kafka with SCRAM over TLS and ACLs for the local stack (`gxctl stack up --secure`).

- TLS: a CA made here signs the broker's certificate (CN=gx-broker, SAN 127.0.0.1 and localhost);
  clients trust the CA (GX_KAFKA_CA_FILE). Files under ``<state>/secrets/kafka``, keys 0600.
- Clients authenticate with SCRAM-SHA-512 on the SASL_SSL listener. The controller listener (KRaft)
  cannot use SCRAM (its credentials live in the metadata the controller serves), so it is TLS with
  client certificates: only the broker's own certificate gets in.
- Authorisation: the StandardAuthorizer, nothing allowed without an ACL; ``gx-admin`` (the CLI and
  the stack's own set-up) and the broker are super users. Every other principal gets exactly its
  job (``acls``): the submitter reads gx.commands and gx.commands.direct and writes results and its dead letters, the
  results writer reads results and writes its dead letters, and its corrector reads the events and
  writes correcting results, the block publisher writes the events and block markers in its
  transactions, each projector reads the events and writes its dead letters, Connect writes
  gx.commands and its own topics, and ``gx-dlq-replayer`` (`gxctl dlq replay`,
  gxcommon.dlq_replay) reads the dead letters and the records they name and writes those back to
  their source topics, and its audit record; ``gx-producer`` (an upstream service's direct
  produce, gxsdk.produce) writes gx.commands.direct, never gx.commands (the submitter refuses an
  administrative command there: only the outbox proves which service wrote one).

Pure functions build the configuration and the ACL list; ``apply`` is the adapter that creates the
SCRAM users and ACLs through the admin API.
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gxcommon.private_files import file_reference, stored_passwords, write_private

ADMIN = "gx-admin"
REPLAYER = "gx-dlq-replayer"
# An upstream service without a database that produces commands itself (gxsdk.produce).
PRODUCER = "gx-producer"
BROKER_DN = "CN=gx-broker"
MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class Grant:
    """One ACL: ``principal`` may ``operation`` on ``resource`` (topic, group, transactional_id,
    cluster) named ``name`` (``prefixed``: every name that starts with it)."""

    principal: str
    resource: str
    name: str
    operation: str
    prefixed: bool = False


def principal(worker: str) -> str:
    """The Kafka principal a worker (`gxctl run WORKER`) logs in as."""
    return f"gx-{worker}"


def principals(groups: list[str]) -> list[str]:
    """Every principal but the admin: one per worker kind and projector group, and Connect."""
    workers = ["submitter", "results-writer", "block-publisher", *(f"projector-{g}" for g in groups)]
    return [*(principal(w) for w in workers), "gx-connect", REPLAYER, PRODUCER]


def acls(app_id: str, groups: list[str], t: Any) -> list[Grant]:
    """The least each principal needs (``t``: the topic settings)."""
    out: list[Grant] = []

    def reads(p: str, topic: str, group: str, prefixed_group: bool = False) -> None:
        out.extend(
            [
                Grant(p, "topic", topic, "READ"),
                Grant(p, "topic", topic, "DESCRIBE"),
                Grant(p, "group", group, "READ", prefixed_group),
            ]
        )

    def writes(p: str, topic: str) -> None:
        out.extend([Grant(p, "topic", topic, "WRITE"), Grant(p, "topic", topic, "DESCRIBE")])

    reads("gx-submitter", t.commands, f"{app_id}-submitter")
    reads("gx-submitter", t.commands_direct, f"{app_id}-submitter")
    writes("gx-submitter", t.command_results)
    writes("gx-submitter", t.commands_dlq)
    reads("gx-results-writer", t.command_results, f"{app_id}-results-writer")
    writes("gx-results-writer", t.commands_dlq)
    # Its corrector (streams.corrector): the events of committed transactions in, corrections out.
    reads("gx-results-writer", t.fabric_events, f"{app_id}-results-corrector")
    writes("gx-results-writer", t.command_results)
    pub = "gx-block-publisher"
    writes(pub, t.fabric_events)
    writes(pub, t.fabric_blocks)
    reads(pub, t.fabric_blocks, f"{app_id}-block-publisher", prefixed_group=True)  # markers read back
    out.append(Grant(pub, "group", "gx-publisher-resume-", "READ", True))  # the last marker, read on start
    out.extend(
        [
            Grant(pub, "transactional_id", f"{app_id}-block-publisher-", "WRITE", True),
            Grant(pub, "transactional_id", f"{app_id}-block-publisher-", "DESCRIBE", True),
            Grant(pub, "cluster", "kafka-cluster", "IDEMPOTENT_WRITE"),
        ]
    )
    for g in groups:
        p = f"gx-projector-{g}"
        reads(p, t.fabric_events, f"{app_id}-projector-{g}", prefixed_group=True)
        out.append(Grant(p, "group", "gx-projector-reader-", "READ", True))  # gap replay (projections.kafka_io)
        writes(p, t.projections_dlq)
    # A service's direct produce (gxsdk.produce): its own topic, idempotently, and nothing else; never
    # gx.commands, where an administrative command is taken on the outbox's word (Connect's).
    writes(PRODUCER, t.commands_direct)
    out.append(Grant(PRODUCER, "cluster", "kafka-cluster", "IDEMPOTENT_WRITE"))
    # The replay of a dead letter: read it and the record it names, send that back, record the replay.
    for topic in (t.commands_dlq, t.projections_dlq):
        out.extend([Grant(REPLAYER, "topic", topic, "READ"), Grant(REPLAYER, "topic", topic, "DESCRIBE")])
    for topic in (t.commands, t.commands_direct, t.command_results, t.fabric_events):
        out.extend(Grant(REPLAYER, "topic", topic, op) for op in ("READ", "DESCRIBE", "WRITE"))
    writes(REPLAYER, t.dlq_replays)
    out.append(Grant(REPLAYER, "group", "gxctl-dlq-", "READ", True))  # its reading consumer's (no commits)
    out.append(Grant(REPLAYER, "cluster", "kafka-cluster", "IDEMPOTENT_WRITE"))
    # The results writer exports the count of replays (streams.replay_audit): the audit topic's end.
    out.append(Grant("gx-results-writer", "topic", t.dlq_replays, "DESCRIBE"))
    c = "gx-connect"
    writes(c, t.commands)
    for topic in ("gx-connect-configs", "gx-connect-offsets", "gx-connect-status"):
        out.extend(Grant(c, "topic", topic, op) for op in ("READ", "WRITE", "DESCRIBE", "CREATE", "DESCRIBE_CONFIGS"))
    # Debezium's own topics (heartbeats), created by Connect's topic.creation.
    out.extend(Grant(c, "topic", "__debezium-heartbeat", op, True) for op in ("WRITE", "DESCRIBE", "CREATE"))
    out.extend(Grant(c, "topic", "gxoutbox", op, True) for op in ("WRITE", "DESCRIBE", "CREATE"))
    out.extend(
        [
            Grant(c, "group", "gx-connect", "READ"),
            Grant(c, "cluster", "kafka-cluster", "DESCRIBE"),
            Grant(c, "cluster", "kafka-cluster", "IDEMPOTENT_WRITE"),
        ]
    )
    return list(dict.fromkeys(out))  # each once (a topic read and written is described once)


# -- files ----------------------------------------------------------------------------------------


def ensure_tls(d: Path, host: str) -> None:
    """CA and broker certificate under ``d`` (made once): ca.crt, broker.pem (PKCS#8 key + chain)."""
    if (d / "ca.crt").exists() and (d / "broker.pem").exists():
        return
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gx-pipeline local Kafka CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(host))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gx-broker")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH, x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    write_private(d / "broker.pem", key_pem + cert.public_bytes(pem) + ca.public_bytes(pem))
    (d / "ca.crt").write_bytes(ca.public_bytes(pem))


def passwords(d: Path, names: list[str]) -> dict[str, str]:
    """Each principal's SCRAM password, made once and kept in ``users.json`` (0600)."""
    return stored_passwords(d / "users.json", [ADMIN, *names], lambda: secrets.token_hex(24))


# -- configuration --------------------------------------------------------------------------------


def broker_props(host: str, port: int, controller_port: int, d: Path, admin_password: str) -> str:
    """The listener, TLS, SASL and authoriser lines of server.properties. The broker's own login
    (the admin's password) is read through the FileConfigProvider from a 0600 file, so
    server.properties holds no secret; that provider may read files of ``d`` only."""
    ref = file_reference(d / "broker-login.properties", "password", admin_password)
    jaas = f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{ADMIN}" password="{ref}";'
    return f"""config.providers=file
config.providers.file.class=org.apache.kafka.common.config.provider.FileConfigProvider
config.providers.file.param.allowed.paths={d}
listeners=SASL_SSL://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=SASL_SSL://{host}:{port},CONTROLLER://{host}:{controller_port}
listener.security.protocol.map=CONTROLLER:SSL,SASL_SSL:SASL_SSL
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms={MECHANISM}
sasl.mechanism.inter.broker.protocol={MECHANISM}
listener.name.sasl_ssl.{MECHANISM.lower()}.sasl.jaas.config={jaas}
ssl.keystore.type=PEM
ssl.keystore.location={d / "broker.pem"}
ssl.truststore.type=PEM
ssl.truststore.location={d / "ca.crt"}
listener.name.controller.ssl.client.auth=required
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:{ADMIN};User:{BROKER_DN}
"""


def client_conf(d: Path, user: str, password: str) -> dict[str, str]:
    """librdkafka's settings for ``user``."""
    return {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": MECHANISM,
        "sasl.username": user,
        "sasl.password": password,
        "ssl.ca.location": str(d / "ca.crt"),
    }


def client_env(d: Path, user: str, password: str) -> dict[str, str]:
    """The GX_KAFKA_* variables of a process that is ``user`` (gxcommon.settings reads them). The
    password goes into a file of its own (0600) that the variables name, so no environment, no
    `gxctl stack env` output and no process listing ever holds it."""
    path = d / f"{user}.password"
    if not path.exists() or path.read_text() != password:
        write_private(path, password.encode())
    return {
        "GX_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "GX_KAFKA_SASL_MECHANISM": MECHANISM,
        "GX_KAFKA_USERNAME": user,
        "GX_KAFKA_PASSWORD_FILE": str(path),
        "GX_KAFKA_CA_FILE": str(d / "ca.crt"),
    }


def replay_env(d: Path, password: str) -> dict[str, str]:
    """GX_KAFKA_REPLAY_* of the CLI: `gxctl dlq replay` logs in as the replayer (password in a 0600 file)."""
    env = client_env(d, REPLAYER, password)
    return {"GX_KAFKA_REPLAY_USERNAME": REPLAYER, "GX_KAFKA_REPLAY_PASSWORD_FILE": env["GX_KAFKA_PASSWORD_FILE"]}


def java_client_props(d: Path, user: str, password: str, prefixes: tuple[str, ...] = ("",)) -> str:
    """Kafka's Java client settings for ``user`` (Connect's worker and its producer, consumer and admin)."""
    jaas = f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{user}" password="{password}";'
    lines = []
    for p in prefixes:
        lines += [
            f"{p}security.protocol=SASL_SSL",
            f"{p}sasl.mechanism={MECHANISM}",
            f"{p}sasl.jaas.config={jaas}",
            f"{p}ssl.truststore.type=PEM",
            f"{p}ssl.truststore.location={d / 'ca.crt'}",
        ]
    return "\n".join(lines) + "\n"


# -- adapter --------------------------------------------------------------------------------------


def apply(
    bootstrap: str, admin_conf: dict[str, str], users: dict[str, str], grants: list[Grant], timeout: float = 30
) -> None:
    """Create (or update) the SCRAM users and the ACLs. Raises KafkaException."""
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialAlteration,
        UserScramCredentialUpsertion,
    )

    from gxcommon.kafka import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, **admin_conf})
    upserts: list[UserScramCredentialAlteration] = [
        UserScramCredentialUpsertion(u, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), pw.encode())
        for u, pw in users.items()
        if u != ADMIN
    ]
    for fut in admin.alter_user_scram_credentials(upserts, request_timeout=timeout).values():
        fut.result(timeout)
    kinds = {
        "topic": ResourceType.TOPIC,
        "group": ResourceType.GROUP,
        "transactional_id": ResourceType.TRANSACTIONAL_ID,
        "cluster": ResourceType.BROKER,
    }  # confluent-kafka's name for Kafka's CLUSTER resource
    bindings = [
        AclBinding(
            kinds[g.resource],
            g.name,
            ResourcePatternType.PREFIXED if g.prefixed else ResourcePatternType.LITERAL,
            f"User:{g.principal}",
            "*",
            AclOperation[g.operation],
            AclPermissionType.ALLOW,
        )
        for g in grants
    ]
    for fut in admin.create_acls(bindings, request_timeout=timeout).values():
        fut.result(timeout)
