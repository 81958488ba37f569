"""A worker's /readyz follows its dependencies: a real Postgres of its own (so stopping it disturbs no
other test) is stopped and started again under a running results writer."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.migrate import discover, migrate
from stack.postgres import Postgres
from stack.settings import StackSettings
from tests.integration.workers import Worker, free_port, get, metric_value, start_group_at_end


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[Postgres]:
    pg = Postgres(StackSettings(state_dir=tmp_path / "state", pg_port=free_port(), pg_dsn=None))
    pg.up()
    try:
        yield pg
    finally:
        pg.down()
        pg.purge()


def wait_ready(url: str, want: int, timeout: float = 40) -> dict:
    end = time.monotonic() + timeout
    while True:
        code, body = get(f"{url}/readyz")
        if code == want:
            return json.loads(body)
        assert time.monotonic() < end, f"/readyz stayed {code}: {body}"
        time.sleep(0.5)


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
        body = wait_ready(w.url, 503, timeout=60)
        end = time.monotonic() + 30
        while "migration" not in body.get("checks", {}).get("postgres", "") and time.monotonic() < end:
            time.sleep(0.5)
            body = json.loads(get(f"{w.url}/readyz")[1])
        assert "no migration applied" in body["checks"]["postgres"], body
        assert "kafka" not in body["checks"], body

        migrate(dsn)
        body = wait_ready(w.url, 200)
        assert body["status"] == "ready"
        assert metric_value(w.url, "dependency_up", {"dependency": "postgres"}) == 1.0

        own_postgres.down()
        body = wait_ready(w.url, 503)
        reason = body["checks"]["postgres"]
        assert "connection" in reason.lower() or "refused" in reason.lower(), reason
        assert "postgres" in body["reason"], body
        assert metric_value(w.url, "dependency_up", {"dependency": "postgres"}) == 0.0
        assert w.alive(), "the worker must wait for Postgres, not exit"

        own_postgres.up()
        body = wait_ready(w.url, 200)
        assert body["status"] == "ready"
        assert metric_value(w.url, "dependency_up", {"dependency": "kafka"}) == 1.0
        assert discover()[-1].version >= 5
    finally:
        w.stop()
