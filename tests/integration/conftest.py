"""The real stack, started once per test session.

If the stack was already healthy it is left running afterwards; if this session started it,
it stops it at the end (so `make test` and CI leave no process behind). Set
``GX_KEEP_STACK=1`` to keep it running for a faster next run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from gxcommon.worker_settings import WorkerSettings
from stack.pipeline import Pipeline
from tests.integration.workers import start_group_at_end, stop_all

GXCTL = [sys.executable, "-m", "gxctl.main"]


def gxctl(
    *args: str, check: bool = True, timeout: float = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run gxctl in a subprocess (so started daemons are not children of the test process).

    ``env`` adds variables to this process's environment for that call.
    """
    return subprocess.run(
        [*GXCTL, *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
        env={**os.environ, **env} if env else None,
    )


@pytest.fixture(scope="session")
def stack_env() -> Iterator[dict[str, str]]:
    """The stack's environment (GX_PG_DSN, GX_KAFKA_BOOTSTRAP, GX_CONNECT_URL), exported to os.environ."""
    status = gxctl("stack", "status", "--json", check=False)
    was_up = status.returncode == 0
    # GX_TEST_SECURE=1: Kafka with SCRAM over TLS and ACLs (scripts/test.sh runs the end-to-end
    # tests once that way); every client of the tests then logs in as the admin (`stack env`).
    secure = ["--secure"] if os.environ.get("GX_TEST_SECURE") == "1" else []
    up = gxctl("stack", "up", *secure, check=False)
    if up.returncode != 0:
        pytest.skip(f"local stack could not start:\n{up.stdout}\n{up.stderr}")
    env = json.loads(gxctl("stack", "env", "--json").stdout)
    os.environ.update(env)
    # The process-wide Kafka login is read once: a test that used a Kafka client before this
    # fixture (test_kafka_security.py, on a broker of its own) must not leave it without the stack's.
    from gxcommon.settings import connection_settings

    connection_settings.cache_clear()
    yield env
    stop_all()  # a worker a failed fixture left running would outlive the stack (and fence the next run's)
    if not was_up and os.environ.get("GX_KEEP_STACK") != "1":
        gxctl("down", check=False)  # workers started by tests (gxctl up), then the stack


@pytest.fixture(scope="session")
def pipeline(stack_env: dict[str, str]) -> dict[str, str]:
    """The stack plus migrations, topics and the outbox connector, applied through the CLI."""
    for args in (("db", "migrate"), ("topics", "apply"), ("connectors", "apply")):
        proc = gxctl(*args, check=False)
        assert proc.returncode == 0, f"gxctl {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return stack_env


@pytest.fixture(scope="module")
def up(pipeline: dict[str, str]) -> Iterator[dict[str, str]]:
    """Every worker running (`gxctl up`) for the module, stopped after it."""
    # The default submitter group starts past the commands other tests wrote (as in test_pipeline_up);
    # Kafka moves a group's offsets only while it has no members, so workers left running by an
    # earlier `gxctl up` on the tests' stack stop first.
    Pipeline().stop_workers()
    start_group_at_end(pipeline["GX_KAFKA_BOOTSTRAP"], f"{WorkerSettings().app_id}-submitter", "gx.commands")
    proc = gxctl("up", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    yield pipeline
    Pipeline().stop_workers()  # the watchdog would start them again otherwise
