"""An upstream service writes its own columns of the outbox and nothing of the pipeline's (issue 33,
finding 8: its INSERT privilege covered every column, so it could insert status='CONFIRMED' with a
made-up fabricTxId)."""

from __future__ import annotations

import re

from gxsdk import outbox
from schemas import roles


def test_the_sdk_inserts_exactly_the_columns_the_writer_may_insert() -> None:
    listed = re.search(r'INSERT INTO "OutboxCommand" \((.*?)\)\s*VALUES', outbox._INSERT, re.S)
    assert listed, outbox._INSERT
    columns = tuple(c.strip().strip('"') for c in listed.group(1).split(","))
    assert columns == roles.SERVICE_INSERTS
    assert not set(columns) & {*roles.STATUS_COLUMNS, "status", "attempts", "createdAt", "lockedBy"}


def test_a_table_wide_insert_granted_before_is_taken_back_before_the_column_grant() -> None:
    """A column grant does not narrow a table-wide INSERT a role already has (issue 31 granted one):
    each service's INSERT is revoked first, in the same transaction."""
    statements = [s.as_string(None) for s in roles.grant_statements("gx", {})]
    for role in roles.service_roles().values():
        revoke = statements.index(f'REVOKE INSERT ON "OutboxCommand" FROM "{role}"')
        grant = next(i for i, s in enumerate(statements) if s.startswith("GRANT INSERT (") and s.endswith(f'"{role}"'))
        assert revoke < grant, role
