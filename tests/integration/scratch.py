"""A database and a topic of a test's own, so synthetic events never reach the pipeline's read
models (which `gxctl verify` compares with the real ledger). Both are removed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from confluent_kafka.admin import AdminClient, NewTopic

from gxcommon.dsn import with_dbname
from schemas.migrate import migrate


@contextmanager
def scratch_db(dsn: str, name: str) -> Iterator[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_dbname(dsn, name)
    migrate(url)
    try:
        yield url
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def scratch_topic(
    bootstrap: str, name: str, partitions: int = 6, config: dict[str, str] | None = None
) -> Iterator[str]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})
    admin.create_topics([topic])[name].result(30)
    try:
        yield name
    finally:
        admin.delete_topics([name])[name].result(30)
