"""Reading Postgres in tests."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.abc import Params, QueryNoTemplate


def scalar(conn: psycopg.Connection[Any], query: QueryNoTemplate, params: Params | None = None) -> Any:
    """The first column of the row ``query`` returns (an AssertionError naming the query if none)."""
    row = conn.execute(query, params).fetchone()
    assert row is not None, f"no row from {query!r} with {params!r}"
    return row[0]
