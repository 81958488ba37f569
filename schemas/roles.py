"""Postgres roles: one per job, each allowed exactly that job (least privilege).

| role | who | may |
|---|---|---|
| ``gx_owner`` | migrations, `gxctl` | own every object (runs the migrations, makes the publication) |
| ``gx_cdc`` | Debezium | replicate; read ``OutboxCommand``; write its heartbeat table |
| ``gx_writer`` | upstream services | insert outbox rows (and read back the idempotency key of one) |
| ``gx_results`` | results writer | update the outbox's status columns; read them and a command's ids (its corrector) |
| ``gx_projector_<group>`` | each projector | write its group's tables and its own checkpoint rows |
| ``gx_monitor`` | submitter, block publisher | see which migrations are applied (readiness) |

Roles belong to the cluster and are made by a superuser (REPLICATION needs one): the local stack
does it itself, elsewhere `gxctl db roles --passwords-dir DIR` (:func:`role_statements`). The
grants belong to the database and are applied by the owner after every migration
(:func:`grant_statements`, idempotent), so a table a migration makes again gets its grants back (a
projection rebuild copies them onto the tables it swaps in). Checkpoint rows are guarded by
row-level security: a projector sees and writes only rows with its own ``projectorName``; the
owner is not subject to it.

The pure functions make SQL; :func:`apply_grants` and :func:`ensure_roles` run it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql

OWNER = "gx_owner"
CDC = "gx_cdc"
WRITER = "gx_writer"
RESULTS = "gx_results"
MONITOR = "gx_monitor"

OUTBOX = "OutboxCommand"
# What the results writer sets (streams/results_writer.UPDATE; a unit test keeps them equal).
STATUS_COLUMNS = (
    "status",
    "fabricTxId",
    "commitBlock",
    "errorCode",
    "error",
    "attempts",
    "submittedAt",
    "kafkaPartition",
    "kafkaOffset",
    "validationCode",
    "attemptLog",
    "updatedAt",
)
# What the results writer's corrector (streams.corrector_io) reads besides the status columns: the
# outbox's unique key, to find a command's row, and the command's key, to key its correction.
CORRECTOR_READS = ("tenantId", "requestId", "partitionKey")
# What SDK's idempotent enqueue reads back when its (tenantId, requestId) exists already.
WRITER_READS = ("id", "tenantId", "requestId", "commandType", "payload")


def projector_role(group: str) -> str:
    return f"gx_projector_{group}"


def worker_role(worker: str) -> str:
    """The role a worker of `gxctl run` logs in as. ValueError for an unknown worker."""
    if worker.startswith("projector-"):
        return projector_role(worker.removeprefix("projector-"))
    if worker == "projectors":
        raise ValueError(
            "`projectors` hosts every projection group, and each group has its own role: "
            "with Postgres roles, run projector-GROUP once per group"
        )
    roles = {"results-writer": RESULTS, "submitter": MONITOR, "block-publisher": MONITOR}
    if worker not in roles:
        raise ValueError(f"no Postgres role for worker {worker!r}")
    return roles[worker]


def login_roles(groups: Iterable[str]) -> dict[str, str]:
    """Every role, with its attributes beyond LOGIN."""
    out = {OWNER: "", CDC: "REPLICATION", WRITER: "", RESULTS: "", MONITOR: ""}
    out.update({projector_role(g): "" for g in groups})
    return out


def role_statements(passwords: dict[str, str], attributes: dict[str, str]) -> list[sql.Composed]:
    """CREATE (if absent) or ALTER each role with LOGIN, its attributes and its password. Run by a
    superuser; the passwords travel as literals in the statement, so never log these."""
    out = []
    for role, attrs in attributes.items():
        extra = sql.SQL(" " + attrs if attrs else "")
        body = sql.SQL("LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE{} PASSWORD {}").format(
            extra, sql.Literal(passwords[role])
        )
        out.append(
            sql.SQL(
                "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {name}) THEN "
                "CREATE ROLE {role}; END IF; END $$"
            ).format(name=sql.Literal(role), role=sql.Identifier(role))
        )
        out.append(sql.SQL("ALTER ROLE {} {}").format(sql.Identifier(role), body))
    return out


def _grant(privileges: str, table: str, role: str, columns: Iterable[str] = ()) -> sql.Composed:
    cols = list(columns)
    if cols:
        parts = [
            sql.SQL("{} ({})").format(sql.SQL(p.strip()), sql.SQL(", ").join(map(sql.Identifier, cols)))
            for p in privileges.split(",")
        ]
        return sql.SQL("GRANT {} ON {} TO {}").format(
            sql.SQL(", ").join(parts), sql.Identifier(table), sql.Identifier(role)
        )
    return sql.SQL("GRANT {} ON {} TO {}").format(sql.SQL(privileges), sql.Identifier(table), sql.Identifier(role))


def grant_statements(dbname: str, group_tables: dict[str, tuple[str, ...]]) -> list[sql.SQL | sql.Composed]:
    """The database's grants and checkpoint policies for every role (idempotent; run by the owner)."""
    workers = [RESULTS, MONITOR, *(projector_role(g) for g in group_tables)]
    db = sql.Identifier(dbname)
    out: list[sql.SQL | sql.Composed] = [sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(db)]
    for role in [CDC, WRITER, *workers]:
        out.append(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, sql.Identifier(role)))
    # Readiness checks that the newest migration is applied.
    out += [_grant("SELECT", "_gx_migrations", r) for r in workers]
    out += [
        _grant("SELECT", OUTBOX, CDC),
        _grant("SELECT, INSERT, DELETE", "gx_cdc_heartbeat", CDC),
        sql.SQL("GRANT USAGE ON SEQUENCE gx_cdc_heartbeat_id_seq TO {}").format(sql.Identifier(CDC)),
    ]
    out += [_grant("INSERT", OUTBOX, WRITER), _grant("SELECT", OUTBOX, WRITER, WRITER_READS)]
    out += [
        _grant("UPDATE", OUTBOX, RESULTS, STATUS_COLUMNS),
        _grant("SELECT", OUTBOX, RESULTS, ("id", *CORRECTOR_READS, *STATUS_COLUMNS)),
    ]
    out.append(sql.SQL('ALTER TABLE "ProjectorState" ENABLE ROW LEVEL SECURITY'))
    for group, tables in group_tables.items():
        role = projector_role(group)
        out += [_grant("SELECT, INSERT, UPDATE, DELETE", t, role) for t in tables]
        out.append(_grant("SELECT, INSERT, UPDATE", "ProjectorState", role))
        policy = sql.Identifier(f"ProjectorState_{group}")
        out.append(sql.SQL('DROP POLICY IF EXISTS {} ON "ProjectorState"').format(policy))
        out.append(
            sql.SQL(
                'CREATE POLICY {} ON "ProjectorState" FOR ALL TO {} USING ("projectorName" = {name})'
                ' WITH CHECK ("projectorName" = {name})'
            ).format(policy, sql.Identifier(role), name=sql.Literal(group))
        )
    return out


def missing_roles(conn: psycopg.Connection[Any], names: Iterable[str]) -> list[str]:
    want = list(names)
    have = {r for (r,) in conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (want,)).fetchall()}
    return [n for n in want if n not in have]


def apply_grants(dsn: str, group_tables: dict[str, tuple[str, ...]]) -> bool:
    """Apply the grants in one transaction if every role exists (a deployment with roles); returns
    whether it did. Raises psycopg.Error (e.g. not run by the owner)."""
    with psycopg.connect(dsn) as conn:
        if missing_roles(conn, login_roles(group_tables)):
            return False
        dbname = conn.info.dbname
        with conn.transaction():
            for stmt in grant_statements(dbname, group_tables):
                conn.execute(stmt)
    return True


def ensure_roles(admin_dsn: str, passwords: dict[str, str], attributes: dict[str, str]) -> None:
    """Create or update every role (run as a superuser, in any database of the cluster)."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        for stmt in role_statements(passwords, attributes):
            conn.execute(stmt)
