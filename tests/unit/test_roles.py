"""schemas.roles: each role's grants are exactly its job (pure SQL generation, no database)."""

from __future__ import annotations

import re

import pytest

from projections.groups import GROUPS
from schemas import roles
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


def test_debezium_may_read_the_outbox_and_write_only_its_heartbeat() -> None:
    grants = _grants_to(roles.CDC)
    assert 'GRANT SELECT ON "OutboxCommand" TO "gx_cdc"' in grants
    assert not any("OutboxCommand" in g and ("UPDATE" in g or "INSERT" in g or "DELETE" in g) for g in grants)
    assert {object_of(r'ON (?:SEQUENCE |DATABASE )?"?([\w]+)"?', g) for g in grants} == {
        "gx",
        "OutboxCommand",
        "gx_cdc_heartbeat",
        "gx_cdc_heartbeat_id_seq",
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


def test_the_writer_inserts_and_reads_back_only_the_idempotency_key() -> None:
    grants = _grants_to(roles.WRITER)
    assert 'GRANT INSERT ON "OutboxCommand" TO "gx_writer"' in grants
    assert (
        'GRANT SELECT ("id", "tenantId", "requestId", "commandType", "payload") ON "OutboxCommand" TO "gx_writer"'
        in grants
    )
    assert not any("UPDATE" in g or "DELETE" in g for g in grants)


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
    assert out[1] == ("ALTER ROLE \"gx_cdc\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE REPLICATION PASSWORD 'p''w'")
