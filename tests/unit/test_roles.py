"""schemas.roles: each role's grants are exactly its job (pure SQL generation, no database)."""

from __future__ import annotations

import re

import pytest

from projections.groups import GROUPS
from schemas import roles
from schemas.permissions import SERVICES
from stack.workers import workers_for
from streams.results_writer import UPDATE

TABLES = {name: g.tables for name, g in GROUPS.items()}


def _sql() -> list[str]:
    return [s.as_string(None) for s in roles.grant_statements("gx", TABLES)]


def test_the_results_writer_may_update_exactly_the_columns_its_update_sets() -> None:
    set_clause = UPDATE.split(" SET\n", 1)[1].split("WHERE", 1)[0]
    assigned = re.findall(r'^\s*"?(\w+)"? =', set_clause, re.M)
    assert sorted(assigned) == sorted(roles.STATUS_COLUMNS)


def test_every_worker_has_a_role_and_projectors_each_their_own() -> None:
    mapped = {w: roles.worker_role(w) for w in workers_for(secure=True)}
    # all groups in one process has no single role: with roles, each group runs as its own worker
    with pytest.raises(ValueError, match="projector-GROUP"):
        roles.worker_role("projectors")
    assert mapped["results-writer"] == roles.RESULTS
    assert mapped["submitter"] == mapped["block-publisher"] == roles.MONITOR
    projector_roles = [r for w, r in mapped.items() if w.startswith("projector-")]
    assert len(set(projector_roles)) == len(GROUPS) == len(projector_roles)
    assert set(mapped.values()) <= set(roles.login_roles(GROUPS))
    assert roles.login_roles(GROUPS)[roles.CDC] == "REPLICATION"  # the only role beyond LOGIN


def object_of(pattern: str, grant: str) -> str:
    """The object ``pattern``'s group 1 names in ``grant`` (an AssertionError if it matches nothing)."""
    found = re.search(pattern, grant)
    assert found, f"{pattern!r} matches nothing in {grant!r}"
    return found.group(1)


def _grants_to(role: str) -> list[str]:
    return [s for s in _sql() if s.startswith("GRANT") and s.endswith(f'TO "{role}"')]


def test_debezium_may_read_the_outbox_and_write_nothing() -> None:
    """Issue 33, finding 2: its heartbeats are WAL messages now; what it had on the heartbeat table
    (and its sequence) is taken back."""
    grants = _grants_to(roles.CDC)
    assert 'GRANT SELECT ON "OutboxCommand" TO "gx_cdc"' in grants
    assert not any("OutboxCommand" in g and ("UPDATE" in g or "INSERT" in g or "DELETE" in g) for g in grants)
    assert {object_of(r'ON (?:SEQUENCE |DATABASE )?"?([\w]+)"?', g) for g in grants} == {"gx", "OutboxCommand"}
    assert {s for s in _sql() if s.startswith("REVOKE") and s.endswith('FROM "gx_cdc"')} == {
        'REVOKE ALL ON gx_cdc_heartbeat FROM "gx_cdc"',
        'REVOKE ALL ON SEQUENCE gx_cdc_heartbeat_id_seq FROM "gx_cdc"',
    }


def test_the_results_writer_updates_status_columns_and_reads_what_its_corrector_matches_on() -> None:
    """Issue 30, defect 4: its corrector finds a command's row by (tenantId, requestId) and keys
    the correction by the command's partitionKey; it reads nothing else (no payload)."""
    from streams.corrector_io import COLUMNS

    grants = _grants_to(roles.RESULTS)
    reads = next(g for g in grants if g.startswith("GRANT SELECT (") and "OutboxCommand" in g)
    readable = set(re.findall(r'"(\w+)"', reads.split(" ON ")[0]))
    assert readable == {"id", "tenantId", "requestId", "partitionKey", *roles.STATUS_COLUMNS}
    assert set(re.findall(r'o\."?(\w+)"?', COLUMNS)) <= readable
    assert not any("INSERT" in g or "DELETE" in g for g in grants)


def test_each_service_inserts_and_reads_back_only_the_idempotency_key() -> None:
    cols = '"id", "tenantId", "service", "commandType", "requestId", "payload", "partitionKey", "correlationId"'
    for service in SERVICES:
        role = roles.service_role(service)
        grants = _grants_to(role)
        assert grants == [
            f'GRANT CONNECT ON DATABASE "gx" TO "{role}"',
            # its own columns only (issue 33, finding 8): not status, fabricTxId, attempts, ...
            f'GRANT INSERT ({cols}) ON "OutboxCommand" TO "{role}"',
            f'GRANT SELECT ("id", "tenantId", "requestId", "commandType", "payload") ON "OutboxCommand" TO "{role}"',
        ]
    assert roles.service_role("svc-identity") == "gx_svc_identity"
    # The one writer role of earlier versions keeps nothing (row-level security refuses it anyway).
    assert (
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gx_writer') THEN"
        ' REVOKE ALL ON "OutboxCommand" FROM "gx_writer"; REVOKE ALL ON DATABASE "gx" FROM "gx_writer"; END IF; END $$'
        in _sql()
    )
    assert "gx_writer" not in roles.login_roles(GROUPS)
    assert set(roles.service_roles().values()) <= set(roles.login_roles(GROUPS))


def test_the_outbox_rows_a_service_may_insert_are_its_own_of_its_own_types() -> None:
    statements = _sql()
    assert 'ALTER TABLE "OutboxCommand" ENABLE ROW LEVEL SECURITY' in statements
    policies = [s for s in statements if s.startswith("CREATE POLICY") and ' ON "OutboxCommand" ' in s]
    # Made again on every run, after dropping every policy the table has.
    drop = next(i for i, s in enumerate(statements) if "DROP POLICY %I ON %I" in s)
    assert drop < statements.index(policies[0])
    assert policies[:2] == [
        'CREATE POLICY "the pipeline reads every row" ON "OutboxCommand" AS PERMISSIVE FOR SELECT'
        ' TO "gx_cdc", "gx_results" USING (true)',
        'CREATE POLICY "the results writer updates every row" ON "OutboxCommand" AS PERMISSIVE FOR UPDATE'
        ' TO "gx_results" USING (true) WITH CHECK (true)',
    ]
    tax = [p for p in policies if '"gx_svc_tax"' in p]
    assert tax == [
        'CREATE POLICY "svc-tax inserts" ON "OutboxCommand" AS PERMISSIVE FOR INSERT TO "gx_svc_tax" WITH CHECK (true)',
        'CREATE POLICY "svc-tax reads its own rows" ON "OutboxCommand" AS PERMISSIVE FOR SELECT TO "gx_svc_tax"'
        " USING (service = 'svc-tax')",
        'CREATE POLICY "svc-tax may write only service svc-tax" ON "OutboxCommand" AS RESTRICTIVE FOR INSERT'
        " TO \"gx_svc_tax\" WITH CHECK (service = 'svc-tax')",
        'CREATE POLICY "svc-tax may write only its command types" ON "OutboxCommand" AS RESTRICTIVE FOR INSERT'
        ' TO "gx_svc_tax" WITH CHECK ("commandType" = ANY (ARRAY[\'APPLY_VELOCITY_TAX\']::"CommandType"[]))',
    ]
    assert len(policies) == 2 + 4 * len(SERVICES)
    for service, types in SERVICES.items():
        [check] = [p for p in policies if p.startswith(f'CREATE POLICY "{service} may write only its command types"')]
        assert re.findall(r"'(\w+)'", check) == [t.value for t in types]
    # Postgres cuts names past 63 bytes: every policy and role name is whole.
    names = [re.match(r'CREATE POLICY "([^"]+)"', p).group(1) for p in policies]  # type: ignore[union-attr]
    assert max(len(n.encode()) for n in [*names, *roles.service_roles().values()]) <= 63
    assert len(set(names)) == len(names)


def test_each_projector_writes_its_own_tables_and_its_own_checkpoint_rows() -> None:
    statements = _sql()
    for group, tables in TABLES.items():
        role = roles.projector_role(group)
        grants = _grants_to(role)
        written = {object_of(r'ON "(\w+)"', g) for g in grants if "INSERT" in g}
        assert written == {*tables, "ProjectorState"}, group
        policy = next(s for s in statements if s.startswith(f'CREATE POLICY "ProjectorState_{group}"'))
        assert f'TO "{role}"' in policy and policy.count(f"\"projectorName\" = '{group}'") == 2
    assert 'ALTER TABLE "ProjectorState" ENABLE ROW LEVEL SECURITY' in statements
    assert 'REVOKE CONNECT, TEMPORARY ON DATABASE "gx" FROM PUBLIC' in statements


def test_role_statements_are_idempotent_and_give_no_superpowers() -> None:
    out = [s.as_string(None) for s in roles.role_statements({"gx_cdc": "p'w"}, {"gx_cdc": "REPLICATION"})]
    assert "IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gx_cdc')" in out[0]
    # The password travels as its SCRAM verifier (schemas.scram), never as it is.
    head = 'ALTER ROLE "gx_cdc" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE REPLICATION PASSWORD '
    assert out[1].startswith(head + "'SCRAM-SHA-256$4096:") and "p''w" not in out[1], out[1]
