"""Postgres roles: one per job, each allowed exactly that job (least privilege).

| role | who | may |
|---|---|---|
| ``gx_owner`` | migrations, `gxctl` | own every object (runs the migrations, makes the publication) |
| ``gx_cdc`` | Debezium | replicate the pipeline's database (logical only); read ``OutboxCommand``; write nothing |
| ``gx_svc_<service>`` | each upstream service | insert its own outbox rows, its columns only (schemas.permissions) |
| ``gx_results`` | results writer | update the outbox's status columns; read them and a command's ids (its corrector) |
| ``gx_projector_<group>`` | each projector | write its group's tables and its own checkpoint rows |
| ``gx_monitor`` | submitter, block publisher | see which migrations are applied (readiness) |

Roles belong to the cluster and are made by a superuser (REPLICATION needs one): the local stack
does it itself, elsewhere `gxctl db roles --passwords-dir DIR` (:func:`role_statements`). The
grants belong to the database and are applied by the owner after every migration
(:func:`grant_statements`, idempotent), so a table a migration makes again gets its grants back (a
projection rebuild copies them onto the tables it swaps in). Row-level security guards the rows:
a projector sees and writes only checkpoint rows with its own ``projectorName``; an upstream
service inserts only outbox rows whose ``service`` is its own and whose type its service may write
(schemas.permissions: a refused row is ``new row violates row-level security policy "svc-tax may
write only its command types" ...``), and reads back only its own rows; Debezium and the results
writer see every row. The owner is not subject to it.

The pure functions make SQL; :func:`apply_grants` and :func:`ensure_roles` run it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql

from schemas import scram
from schemas.permissions import SERVICES

OWNER = "gx_owner"
CDC = "gx_cdc"
RESULTS = "gx_results"
MONITOR = "gx_monitor"
# Roles of earlier versions: a cluster that has one keeps it (roles belong to the cluster), but the
# grants take back everything it was given (gx_writer: one role for every upstream service).
RETIRED = ("gx_writer",)

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
SERVICE_READS = ("id", "tenantId", "requestId", "commandType", "payload")
# What a service writes (gxsdk.outbox); the pipeline's columns (status, fabricTxId, attempts, ...)
# take their defaults, and only the results writer changes them.
SERVICE_INSERTS = ("id", "tenantId", "service", "commandType", "requestId", "payload", "partitionKey", "correlationId")


def projector_role(group: str) -> str:
    return f"gx_projector_{group}"


def service_role(service: str) -> str:
    """The role an upstream service writes the outbox as: ``gx_`` and its name, dashes as
    underscores (``svc-identity``: ``gx_svc_identity``)."""
    return "gx_" + service.replace("-", "_")


def service_roles() -> dict[str, str]:
    """Each service of the table (schemas.permissions.SERVICES) with its role."""
    return {s: service_role(s) for s in SERVICES}


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
    out = {OWNER: "", CDC: "REPLICATION", RESULTS: "", MONITOR: ""}
    out.update(dict.fromkeys(service_roles().values(), ""))
    out.update({projector_role(g): "" for g in groups})
    return out


def role_statements(passwords: dict[str, str], attributes: dict[str, str]) -> list[sql.Composed]:
    """CREATE (if absent) or ALTER each role with LOGIN, its attributes and its password. Run by a
    superuser. The passwords travel as SCRAM-SHA-256 verifiers (schemas.scram), which Postgres
    stores as they are: no statement holds a password (a verifier lets the server check a login,
    not make one)."""
    out = []
    for role, attrs in attributes.items():
        extra = sql.SQL(" " + attrs if attrs else "")
        body = sql.SQL("LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE{} PASSWORD {}").format(
            extra, sql.Literal(scram.verifier(passwords[role]))
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
    for role in [CDC, *service_roles().values(), *workers]:
        out.append(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, sql.Identifier(role)))
    # Readiness checks that the newest migration is applied.
    out += [_grant("SELECT", "_gx_migrations", r) for r in workers]
    out += [
        _grant("SELECT", OUTBOX, CDC),
        # Its heartbeats are WAL messages (connectors/outbox.yaml): it writes no table.
        sql.SQL("REVOKE ALL ON gx_cdc_heartbeat FROM {}").format(sql.Identifier(CDC)),
        sql.SQL("REVOKE ALL ON SEQUENCE gx_cdc_heartbeat_id_seq FROM {}").format(sql.Identifier(CDC)),
    ]
    out += [
        _grant("UPDATE", OUTBOX, RESULTS, STATUS_COLUMNS),
        _grant("SELECT", OUTBOX, RESULTS, ("id", *CORRECTOR_READS, *STATUS_COLUMNS)),
    ]
    out += outbox_policies()
    out += [_revoke_retired(dbname, role) for role in RETIRED]
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


def _revoke_retired(dbname: str, role: str) -> sql.Composed:
    """Take back a retired role's outbox and database privileges, if the cluster has that role."""
    return sql.SQL(
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {name}) THEN"
        " REVOKE ALL ON {outbox} FROM {role}; REVOKE ALL ON DATABASE {db} FROM {role}; END IF; END $$"
    ).format(
        name=sql.Literal(role), outbox=sql.Identifier(OUTBOX), role=sql.Identifier(role), db=sql.Identifier(dbname)
    )


def _policy(
    name: str, command: str, roles: Iterable[str], clause: sql.Composable, restrictive: bool = False
) -> sql.Composed:
    return sql.SQL("CREATE POLICY {} ON {} AS {} FOR {} TO {} {}").format(
        sql.Identifier(name),
        sql.Identifier(OUTBOX),
        sql.SQL("RESTRICTIVE" if restrictive else "PERMISSIVE"),
        sql.SQL(command),
        sql.SQL(", ").join(map(sql.Identifier, roles)),
        clause,
    )


# Every policy of the outbox is made again by each grant run (a service gone from the table
# loses its policies too); the run is one transaction, so no statement sees the table without them.
_DROP_OUTBOX_POLICIES = sql.SQL(
    "DO $$ DECLARE p record; BEGIN FOR p IN SELECT policyname FROM pg_policies"
    " WHERE schemaname = current_schema() AND tablename = {table} LOOP"
    " EXECUTE format('DROP POLICY %I ON %I', p.policyname, {table}); END LOOP; END $$"
).format(table=sql.Literal(OUTBOX))


def outbox_policies() -> list[sql.SQL | sql.Composed]:
    """The outbox's grants to the services and its row-level security (schemas.permissions).

    Each service's role may insert (a permissive policy) only rows passing two restrictive ones,
    which Postgres names when it refuses a row: ``<service> may write only service <service>``
    and ``<service> may write only its command types``; it reads back only its own rows. Debezium
    reads and the results writer reads and updates every row (their column grants still apply).
    """
    out: list[sql.SQL | sql.Composed] = [
        sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(sql.Identifier(OUTBOX)),
        _DROP_OUTBOX_POLICIES,
        _policy("the pipeline reads every row", "SELECT", [CDC, RESULTS], sql.SQL("USING (true)")),
        _policy("the results writer updates every row", "UPDATE", [RESULTS], sql.SQL("USING (true) WITH CHECK (true)")),
    ]
    for service, types in SERVICES.items():
        role = service_role(service)
        own = sql.SQL("service = {}").format(sql.Literal(service))
        allowed = sql.SQL('"commandType" = ANY (ARRAY[{}]::"CommandType"[])').format(
            sql.SQL(", ").join(sql.Literal(t.value) for t in types)
        )
        out += [
            # Its own columns only: a table-wide INSERT (granted before) would outlive a column grant.
            sql.SQL("REVOKE INSERT ON {} FROM {}").format(sql.Identifier(OUTBOX), sql.Identifier(role)),
            _grant("INSERT", OUTBOX, role, SERVICE_INSERTS),
            _grant("SELECT", OUTBOX, role, SERVICE_READS),
            _policy(f"{service} inserts", "INSERT", [role], sql.SQL("WITH CHECK (true)")),
            _policy(f"{service} reads its own rows", "SELECT", [role], sql.SQL("USING ({})").format(own)),
            _policy(
                f"{service} may write only service {service}",
                "INSERT",
                [role],
                sql.SQL("WITH CHECK ({})").format(own),
                restrictive=True,
            ),
            _policy(
                f"{service} may write only its command types",
                "INSERT",
                [role],
                sql.SQL("WITH CHECK ({})").format(allowed),
                restrictive=True,
            ),
        ]
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
