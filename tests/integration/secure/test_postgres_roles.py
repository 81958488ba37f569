"""Postgres roles on the running secure stack, as a compromised part would try them (issue 33): what
Debezium's replication role can copy or reach, and what an upstream service's role can write and
read. tests/integration/secure/test_secure_stack.py checks that each role does its job."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from gxcommon.dsn import pg_parts, pg_url
from schemas import roles
from stack.manager import Stack
from stack.postgres import find_bin_dir


@pytest.fixture(scope="module")
def stack(up: dict[str, str]) -> Stack:
    s = Stack()
    assert s.postgres.secure, "the secure pass must run on a --secure stack"
    return s


def _refusal(dsn: str, **kw: str) -> str:
    """'connected', or the last line of the server's refusal (``kw``: more connection parameters)."""
    try:
        with psycopg.connect(make_conninfo(dsn, connect_timeout=5, **kw)):
            return "connected"
    except psycopg.OperationalError as e:
        return str(e).strip().splitlines()[-1]


# -- finding 2: Debezium's role replicates the outbox of the pipeline's database, nothing else --------


def test_debeziums_role_cannot_take_a_base_backup_of_the_cluster(stack: Stack, tmp_path: Path) -> None:
    """Before: pg_hba allowed physical replication to every role, so gx_cdc's login (REPLICATION)
    copied every database of the cluster, pg_authid's password hashes included."""
    cdc = stack.postgres.role_dsn(roles.CDC)
    assert "no pg_hba.conf entry for replication connection" in _refusal(cdc, replication="true")
    proc = subprocess.run(
        [str(find_bin_dir(install=False) / "pg_basebackup"), "-d", cdc, "-D", str(tmp_path / "copy"), "-X", "none"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0, "gx_cdc took a base backup of the cluster"
    assert "no pg_hba.conf entry for replication connection" in proc.stderr, proc.stderr
    assert not (tmp_path / "copy" / "global" / "pg_control").exists()


def test_debeziums_role_reaches_the_pipelines_database_only(stack: Stack) -> None:
    """Before: it could log in to every database (postgres, template1: CONNECT is PUBLIC's there)
    and make a logical replication slot in each."""
    p = pg_parts(stack.postgres.role_dsn(roles.CDC))
    for db in ("postgres", "template1"):
        other = pg_url(p["user"], "", p["host"], p["port"], db, p["query"])
        refusal = _refusal(other)
        assert "pg_hba.conf rejects connection" in refusal and f'database "{db}"' in refusal, refusal
        assert "pg_hba.conf rejects" in _refusal(other, replication="database")
    assert _refusal(stack.postgres.role_dsn(roles.CDC)) == "connected"


def test_the_publication_holds_the_outbox_only_and_debeziums_role_writes_nothing(stack: Stack) -> None:
    """Before: the publication held the heartbeat table too, which gx_cdc wrote (INSERT, DELETE)."""
    with psycopg.connect(stack.postgres.role_dsn(roles.OWNER)) as conn:
        published = conn.execute("SELECT tablename FROM pg_publication_tables WHERE pubname = 'gx_outbox_pub'")
        assert [t for (t,) in published] == ["OutboxCommand"]
        writes = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
            " AND has_table_privilege(%s, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')",
            (roles.CDC,),
        ).fetchall()
        assert writes == [], f"gx_cdc may write {writes}"
        reads = conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND has_table_privilege(%s, c.oid, 'SELECT')",
            (roles.CDC,),
        ).fetchall()
        assert reads == [("OutboxCommand",)], reads


# -- finding 8: an upstream service writes its own columns only ---------------------------------------


def test_a_service_cannot_insert_a_row_the_pipeline_would_take_for_confirmed(stack: Stack) -> None:
    """Before: a service's INSERT covered every column, so it could insert status='CONFIRMED' with
    a made-up fabricTxId (a row of its own service and type: row-level security lets it in), and
    the read side would show it as on the ledger."""
    rid = f"sec8-{uuid.uuid4().hex[:10]}"
    # A command that is harmless on the ledger (a test user), should a row reach the submitter.
    user = {"userId": rid, "email": f"{rid}@example.com", "firstName": "Sec", "lastName": "Eight", "country": "MY"}
    forged = (
        'INSERT INTO "OutboxCommand" (id, "tenantId", service, "commandType", "requestId", payload, "partitionKey",'
        ' status, "fabricTxId", "commitBlock") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)'
    )
    row = (rid, "sec8", "svc-identity", "CREATE_USER", rid, json.dumps(user), rid, "CONFIRMED", "made-up-tx", 1)
    dsn = stack.postgres.role_dsn(
        roles.service_role("svc-identity")
    )  # its own service and type: only the columns refuse
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(forged, row)
        refused = "inserted"
    except psycopg.errors.InsufficientPrivilege as e:
        refused = str(e).strip().splitlines()[0]
    finally:
        with psycopg.connect(stack.postgres.role_dsn(roles.OWNER), autocommit=True) as conn:
            conn.execute('DELETE FROM "OutboxCommand" WHERE "requestId" = %s', (rid,))
    assert refused == "permission denied for table OutboxCommand"
    # Its own columns go in, and the pipeline's take their defaults.
    from gxsdk import enqueue

    with psycopg.connect(dsn) as conn, conn.transaction():
        made = enqueue(
            conn, tenant_id="sec8", service="svc-identity", command_type="CREATE_USER", request_id=rid, payload=user
        )
    try:
        with psycopg.connect(stack.postgres.role_dsn(roles.OWNER)) as conn:
            got = conn.execute(
                'SELECT status, attempts, "fabricTxId" FROM "OutboxCommand" WHERE id = %s', (made.id,)
            ).fetchone()
        assert got == ("PENDING", 0, None)
    finally:
        with psycopg.connect(stack.postgres.role_dsn(roles.OWNER), autocommit=True) as conn:
            conn.execute('DELETE FROM "OutboxCommand" WHERE id = %s', (made.id,))


def test_a_service_reads_back_its_own_rows_only(stack: Stack) -> None:
    """Before (one writer role for every service): any service could read every tenant's payloads.
    Each service's role sees only its own rows (row-level security), and of those the idempotency
    columns only."""
    from gxsdk import enqueue

    rid = f"sec8r-{uuid.uuid4().hex[:10]}"
    user = {"userId": rid, "email": f"{rid}@example.com", "firstName": "Sec", "lastName": "Read", "country": "MY"}
    with psycopg.connect(stack.postgres.role_dsn(roles.service_role("svc-identity"))) as conn, conn.transaction():
        made = enqueue(
            conn, tenant_id="sec8", service="svc-identity", command_type="CREATE_USER", request_id=rid, payload=user
        )
    try:
        query = 'SELECT id FROM "OutboxCommand" WHERE id = %s'
        with psycopg.connect(stack.postgres.role_dsn(roles.service_role("svc-identity"))) as conn:
            assert conn.execute(query, (made.id,)).fetchall() == [(made.id,)]
        with psycopg.connect(stack.postgres.role_dsn(roles.service_role("svc-loans"))) as conn:
            assert conn.execute(query, (made.id,)).fetchall() == [], "another service's row is visible"
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for table OutboxCommand"):
                conn.execute('SELECT status, error FROM "OutboxCommand" LIMIT 1')
    finally:
        with psycopg.connect(stack.postgres.role_dsn(roles.OWNER), autocommit=True) as conn:
            conn.execute('DELETE FROM "OutboxCommand" WHERE id = %s', (made.id,))
