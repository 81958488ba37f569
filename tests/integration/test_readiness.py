"""A worker's /readyz follows its dependencies: a real Postgres of its own (so stopping it disturbs no
other test) is stopped and started again under a running results writer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.migrate import discover, migrate
from stack.postgres import Postgres
from stack.settings import StackSettings
from tests.integration.workers import Worker, free_port, metric_value, start_group_at_end
from tests.waiting import wait_until


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[Postgres]:
    pg = Postgres(StackSettings(state_dir=tmp_path / "state", pg_port=free_port(), pg_dsn=None))
    pg.up()
    try:
        yield pg
    finally:
        pg.down()
        pg.purge()


def wait_ready(w: Worker, want: int, timeout: float = 40) -> dict:
    """Until the worker's /readyz answers ``want``; its body."""
    return wait_until(
        w.ready, f"{w.name}'s /readyz to answer {want}", until=lambda r: r[0] == want, timeout=timeout, interval=0.5
    )[1]


def test_readyz_names_postgres_while_it_is_down_and_recovers(
    pipeline: dict[str, str], own_postgres: Postgres, tmp_path: Path
) -> None:
    dsn = own_postgres.dsn()
    assert dsn
    app_id = f"gx-test-ready-{time.monotonic_ns()}"
    start_group_at_end(pipeline["GX_KAFKA_BOOTSTRAP"], f"{app_id}-results-writer", "gx.command-results")
    # Not migrated yet: the worker runs (it consumes) but is not ready, and says why.
    w = Worker("results-writer", app_id, tmp_path, GX_PG_DSN=dsn).launch()
    try:
        wait_ready(w, 503, timeout=60)
        # Its first probes may find Postgres still starting; then it names the missing schema.
        body = wait_until(
            w.ready,
            "/readyz to name the missing migration",
            until=lambda r: "migration" in r[1].get("checks", {}).get("postgres", ""),
            timeout=30,
            interval=0.5,
        )[1]
        assert "no migration applied" in body["checks"]["postgres"], body
        assert "kafka" not in body["checks"], body

        migrate(dsn)
        body = wait_ready(w, 200)
        assert body["status"] == "ready"
        assert metric_value(w.url, "dependency_up", {"dependency": "postgres"}) == 1.0

        own_postgres.down()
        body = wait_ready(w, 503)
        reason = body["checks"]["postgres"]
        assert "connection" in reason.lower() or "refused" in reason.lower(), reason
        assert "postgres" in body["reason"], body
        assert metric_value(w.url, "dependency_up", {"dependency": "postgres"}) == 0.0
        assert w.alive(), "the worker must wait for Postgres, not exit"

        own_postgres.up()
        body = wait_ready(w, 200)
        assert body["status"] == "ready"
        assert metric_value(w.url, "dependency_up", {"dependency": "kafka"}) == 1.0
        assert discover()[-1].version >= 5
    finally:
        w.stop()
