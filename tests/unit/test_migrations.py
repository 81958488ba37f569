from pathlib import Path

import pytest

from schemas.errors import SchemaError
from schemas.migrate import discover


def test_migrations_are_numbered_and_ordered() -> None:
    migs = discover()
    assert [m.version for m in migs] == sorted(m.version for m in migs)
    assert migs[0].name == "outbox"


def test_duplicate_versions_are_refused(tmp_path: Path) -> None:
    (tmp_path / "001_a.sql").write_text("SELECT 1")
    (tmp_path / "1_b.sql").write_text("SELECT 1")
    with pytest.raises(SchemaError, match="two migrations with version 1"):
        discover(tmp_path)


def test_the_sql_key_rule_covers_every_routed_type() -> None:
    from schemas.routing import ROUTES, SHARDS

    # The newest definition of gx_partition_key is the one the database runs.
    sql = next(m.sql for m in reversed(discover()) if "FUNCTION gx_partition_key" in m.sql)
    for ctype, route in ROUTES.items():
        expected = "'system'" if route.key_field is None else f"payload->>'{route.key_field}'"
        if route.shard_prefix:
            expected = (
                f"'{route.shard_prefix}-' || (get_byte(sha256(convert_to({expected}, 'UTF8')), 0) % {SHARDS})::text"
            )
        assert f"WHEN '{ctype.value}' THEN {expected}" in sql, ctype
