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
    assert columns == roles.WRITER_INSERTS
    assert not set(columns) & {*roles.STATUS_COLUMNS, "status", "attempts", "createdAt", "lockedBy"}
