"""SQL migrations: numbered files in schemas/sql, applied in order, each once.

Applied versions are recorded in ``_gx_migrations`` with a checksum. Concurrent runners (several
processes starting at once) are serialised by a Postgres advisory lock, so each file runs exactly
once. A changed file that was already applied is an error, never silently re-run.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from schemas.errors import SchemaError

SQL_DIR = Path(__file__).parent / "sql"
LOCK_KEY = 0x67780001  # arbitrary, constant: "gx" + 1


class MigrationError(SchemaError):
    """A migration failed or an applied one was changed. ``version`` names the file."""

    def __init__(self, version: int, name: str, problem: str) -> None:
        self.version = version
        self.name = name
        super().__init__(f"migration {version:03d} ({name}): {problem}")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(sql_dir: Path = SQL_DIR) -> list[Migration]:
    """Every ``NNN_name.sql`` file, in version order. Raises SchemaError on a duplicate version."""
    found: dict[int, Migration] = {}
    for path in sorted(sql_dir.glob("*.sql")):
        m = re.fullmatch(r"(\d+)_(.+)\.sql", path.name)
        if not m:
            continue
        version = int(m.group(1))
        if version in found:
            raise SchemaError(f"two migrations with version {version}: {found[version].name} and {m.group(2)}")
        found[version] = Migration(version, m.group(2), path.read_text())
    return [found[v] for v in sorted(found)]


def migrate(dsn: str, sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply pending migrations; returns the names applied now (empty if up to date)."""
    applied_now: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            conn.execute(
                'CREATE TABLE IF NOT EXISTS "_gx_migrations" (version INTEGER PRIMARY KEY, name TEXT NOT NULL,'
                ' checksum TEXT NOT NULL, "appliedAt" TIMESTAMPTZ NOT NULL DEFAULT now())'
            )
            done: dict[int, str] = dict(conn.execute('SELECT version, checksum FROM "_gx_migrations"').fetchall())
            for mig in discover(sql_dir):
                if mig.version in done:
                    if done[mig.version] != mig.checksum:
                        raise MigrationError(
                            mig.version,
                            mig.name,
                            "already applied, but the file has changed since;"
                            " add a new migration instead of editing an applied one",
                        )
                    continue
                try:
                    with conn.transaction():
                        conn.execute(mig.sql)
                        conn.execute(
                            'INSERT INTO "_gx_migrations" (version, name, checksum) VALUES (%s, %s, %s)',
                            (mig.version, mig.name, mig.checksum),
                        )
                except psycopg.Error as e:
                    raise MigrationError(mig.version, mig.name, str(e).strip()) from e
                applied_now.append(f"{mig.version:03d}_{mig.name}")
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    return applied_now
