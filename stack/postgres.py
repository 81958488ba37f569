"""PostgreSQL for the local stack: Debian's server binaries, a cluster of our own.

- ``wal_level=logical`` with room for replication slots and WAL senders (Debezium needs them).
- Password authentication (scram-sha-256), never trust; the generated password always contains
  ``/ = @ %`` so every client proves it percent-encodes (see gxcommon.dsn).
- Postgres refuses to run as root. When we are root it runs as the ``postgres`` system user, and
  because ``~`` (/root) is not traversable by that user its files live under /var/lib/gx-pipeline,
  keyed by our state directory; everything else (secrets, pid file, log link) stays in the state dir.
- Given ``GX_PG_DSN`` pointing elsewhere, no server is started: the existing one is checked instead.
"""

from __future__ import annotations

import glob
import hashlib
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any, Literal

import psycopg

from gxcommon import health
from gxcommon.dsn import pg_parts, pg_url, pgpass_line
from gxcommon.private_files import stored_passwords, write_private
from schemas.roles import CDC, OWNER, ensure_roles, login_roles
from stack.environ import without_credentials
from stack.errors import StackError
from stack.mode import is_secure
from stack.procs import Proc, port_open, tail
from stack.settings import StackSettings

NAME = "postgres"
USER = "gx"
DBNAME = "gx"
MIN_SLOTS = 10


def make_password() -> str:
    """A random password that always contains ``/``, ``=``, ``@`` and ``%``."""
    t = secrets.token_urlsafe(24)
    return f"{t[:8]}/{t[8:16]}={t[16:24]}@{t[24:]}%x"


def find_bin_dir(install: bool = True) -> Path:
    """Directory of Debian's newest ``pg_ctl``/``initdb``/``postgres``; installs the package if absent.

    Raises StackError if it is absent and cannot be installed.
    """
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "postgresql"]):
            proc = subprocess.run(argv, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise StackError(
                    NAME,
                    f"`{' '.join(argv)}` failed",
                    "install Debian's postgresql package by hand",
                    "\n".join(proc.stderr.splitlines()[-20:]),
                )
        return find_bin_dir(install=False)
    raise StackError(
        NAME,
        "no PostgreSQL server binaries under /usr/lib/postgresql",
        "sudo apt-get install -y postgresql   (or set GX_PG_DSN to an existing server with wal_level=logical)",
    )


def hba(host: str) -> str:
    """pg_hba.conf: password authentication only, loopback only. No physical replication for
    anyone (no line names ``replication``: a base backup copies every database of the cluster,
    password hashes included); Debezium's role (REPLICATION, for logical decoding) reaches the
    pipeline's database only, its logical replication connection included (that one matches the
    database's name, not ``replication``)."""
    return (
        "# GX Pipeline: password authentication only, loopback only; no physical replication;\n"
        f"# {CDC} (Debezium) reaches database {DBNAME} only.\n"
        f"host  {DBNAME} {CDC} {host}/32 scram-sha-256\n"
        f"local all {CDC} reject\n"
        f"host  all {CDC} all reject\n"
        "local all all scram-sha-256\n"
        f"host  all all {host}/32 scram-sha-256\n"
    )


class Postgres:
    """Our own cluster, or a check of an external one when ``GX_PG_DSN`` names another server."""

    def __init__(self, s: StackSettings) -> None:
        self.s = s
        self.as_root = os.geteuid() == 0
        if self.as_root:
            key = hashlib.sha256(str(s.state_dir.resolve()).encode()).hexdigest()[:10]
            self.home = Path("/var/lib/gx-pipeline") / f"pg-{key}"
        else:
            self.home = s.state_dir / "postgres"
        self.data = self.home / "data"
        self.sockets = self.home / "run"
        self.server_log = self.home / "postgres.log"
        self.proc = Proc(NAME, s.run_dir, s.log_dir)
        self.password_file = s.state_dir / "secrets" / "pg_password"
        # libpq's password files, one per login holding that login's line only: every DSN we hand
        # out names its login's (a process given a DSN gets no other role's password).
        self.pgpass_dir = s.state_dir / "secrets" / "pgpass.d"
        self.roles_file = s.state_dir / "secrets" / "pg_roles.json"

    @property
    def secure(self) -> bool:
        """A role per job (schemas.roles), with the database owned by gx_owner (stack.mode)."""
        return is_secure(self.s)

    # -- identity -------------------------------------------------------------------------
    def pgpass(self, role: str) -> Path:
        """The libpq password file of ``role`` (its line only, 0600)."""
        return self.pgpass_dir / role

    def role_dsn(self, role: str) -> str:
        """DSN of ``role`` on our database; its password is in the pgpass file it names (its own)."""
        return pg_url(role, "", self.s.host, self.s.pg_port, DBNAME, {"passfile": str(self.pgpass(role))})

    def own_dsn(self) -> str | None:
        """DSN of our own cluster (as the owner of the database), if it has been initialised."""
        if not self.password_file.exists():
            return None
        return self.role_dsn(OWNER if self.secure else USER)

    def role_passwords(self) -> dict[str, str]:
        """Each role's password (secure mode), made once and kept in pg_roles.json (0600); only the
        roles of this version (a retired role's password stays in the file, unused)."""
        from projections.groups import GROUPS

        names = login_roles(GROUPS)
        stored = stored_passwords(self.roles_file, names, make_password)
        return {role: stored[role] for role in names}

    def _write_pgpass(self) -> None:
        """A password file per login (the superuser, and each role when secure), in a 0700 folder."""
        admin = self.password_file.read_text().rstrip("\n")
        logins = {USER: admin, **(self.role_passwords() if self.secure else {})}
        self.pgpass_dir.mkdir(parents=True, exist_ok=True)
        self.pgpass_dir.chmod(0o700)
        for user, pw in logins.items():
            write_private(self.pgpass(user), pgpass_line(self.s.host, self.s.pg_port, "*", user, pw) + "\n")
        (self.s.state_dir / "secrets" / "pgpass").unlink(missing_ok=True)  # the one file of every login, before

    def external_dsn(self) -> str | None:
        """``GX_PG_DSN`` if it names a server other than our own cluster."""
        if self.s.pg_dsn is None:
            return None
        dsn = self.s.pg_dsn.get_secret_value()
        try:
            p = pg_parts(dsn)
        except ValueError:
            return dsn
        ours = (p["host"], int(p["port"])) == (self.s.host, self.s.pg_port) and self.password_file.exists()
        return None if ours else dsn

    def dsn(self) -> str | None:
        return self.external_dsn() or self.own_dsn()

    # -- running as the postgres user when root ---------------------------------------------
    def _run(
        self, argv: list[str], check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        if self.as_root:
            argv = ["runuser", "-u", "postgres", "--", *argv]  # keeps the environment (no --login)
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            cwd=self.home if self.home.exists() else "/",
            env=env if env is not None else without_credentials(os.environ),
        )
        if check and proc.returncode != 0:
            raise StackError(
                NAME,
                f"`{' '.join(argv)}` failed (exit {proc.returncode})",
                "see the log; `gxctl stack down --purge` starts from scratch",
                (proc.stdout + proc.stderr)[-3000:] + "\n" + tail(self.server_log, 20),
            )
        return proc

    def _chown(self, path: Path) -> None:
        if self.as_root:
            shutil.chown(path, "postgres", "postgres")

    # -- lifecycle ------------------------------------------------------------------------
    def healthy(self, dsn: str | None = None) -> bool:
        """A query answers over TCP with the generated password (on ``dsn``, default our database)."""
        dsn = dsn or self.dsn()
        if not dsn:
            return False
        try:
            return bool(health.postgres(dsn))
        except health.ProbeError:
            return False

    def up(self) -> None:
        """Start (initialising on first use) and wait until a query answers; or check an external server."""
        ext = self.external_dsn()
        if ext:
            check_external(ext)
            return
        if self.proc.pid() is not None and self.healthy():
            return
        bin_dir = find_bin_dir()
        self._init(bin_dir)
        if self.proc.pid() is None:
            if port_open(self.s.host, self.s.pg_port):
                raise StackError(
                    NAME,
                    f"port {self.s.pg_port} on {self.s.host} is taken by a process we did not start",
                    "stop that process, or set GX_PG_PORT to a free port",
                )
            self._write_conf()
            # The postmaster inherits pg_ctl's environment, and with it the marker (stack.procs).
            self._run(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.server_log),
                    "-w",
                    "-t",
                    str(int(self.s.start_timeout_s)),
                    "start",
                ],
                env=self.proc.marker_env(),
            )
            self.proc.record(int((self.data / "postmaster.pid").read_text().split()[0]))
        self._write_pgpass()
        admin = self._admin_dsn()
        self.proc.wait_healthy(lambda: self.healthy(admin), 30, "SELECT 1 over TCP with the generated password")
        owner = USER
        if self.secure:
            from projections.groups import GROUPS

            ensure_roles(admin, self.role_passwords(), login_roles(GROUPS))
            owner = OWNER
        self._create_db(admin, owner)

    def _init(self, bin_dir: Path) -> None:
        if (self.data / "PG_VERSION").exists():
            if not self.password_file.exists():
                raise StackError(
                    NAME,
                    f"cluster at {self.data} exists but its password file {self.password_file} is missing",
                    "gxctl stack down --purge   (drops the local stack's data)",
                )
            return
        if self.data.exists() and any(self.data.iterdir()):
            raise StackError(
                NAME,
                f"half-initialised cluster at {self.data} (no PG_VERSION)",
                "gxctl stack down --purge   (drops the local stack's data)",
            )
        self.home.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(parents=True, exist_ok=True)
        self._chown(self.home)
        self._chown(self.sockets)
        self.password_file.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.password_file.parent, 0o700)
        password = make_password()
        pwfile = self.home / ".initdb-pw"
        pwfile.write_text(password + "\n")
        os.chmod(pwfile, 0o600)
        self._chown(pwfile)
        try:
            self._run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    USER,
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "-E",
                    "UTF8",
                    "--no-locale",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        self.password_file.write_text(password + "\n")
        os.chmod(self.password_file, 0o600)
        with open(self.data / "postgresql.conf", "a") as f:
            f.write("\n# GX Pipeline settings, rewritten on every `gxctl stack up`\ninclude = 'gx.conf'\n")

    def _write_conf(self) -> None:
        (self.data / "gx.conf").write_text(
            f"listen_addresses = '{self.s.host}'\n"
            f"port = {self.s.pg_port}\n"
            f"unix_socket_directories = '{self.sockets}'\n"
            "wal_level = logical            # Debezium reads the outbox from the WAL (pgoutput)\n"
            "max_replication_slots = 20\n"
            "max_wal_senders = 20\n"
            "max_slot_wal_keep_size = 4GB   # a forgotten slot cannot fill the disk\n"
            "max_connections = 200\n"
            "shared_buffers = 256MB\n"
            "password_encryption = scram-sha-256\n"
        )
        (self.data / "pg_hba.conf").write_text(hba(self.s.host))
        self._chown(self.data / "gx.conf")
        self._chown(self.data / "pg_hba.conf")
        self.s.log_dir.mkdir(parents=True, exist_ok=True)
        link = self.s.log_dir / f"{NAME}.log"
        if not link.is_symlink():
            link.unlink(missing_ok=True)
            link.symlink_to(self.server_log)

    def _admin_dsn(self) -> str:
        """The cluster's superuser (made by initdb) on the maintenance database."""
        return pg_url(USER, "", self.s.host, self.s.pg_port, "postgres", {"passfile": str(self.pgpass(USER))})

    def _create_db(self, admin: str, owner: str) -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DBNAME,)).fetchone():
                conn.execute(f'CREATE DATABASE "{DBNAME}" OWNER "{owner}"')

    def down(self) -> bool:
        """Stop our cluster (fast shutdown), only if we started it. True if it was running."""
        if self.proc.pid() is None:
            return False
        bin_dir = find_bin_dir(install=False)
        self._run([str(bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"], check=False)
        self.proc.stop(timeout=10)
        return True

    def purge(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)
        for f in (self.password_file, self.roles_file):
            f.unlink(missing_ok=True)
        shutil.rmtree(self.pgpass_dir, ignore_errors=True)


def _show(conn: psycopg.Connection[Any], setting: Literal["wal_level", "max_replication_slots"]) -> str:
    row = conn.execute(f"SHOW {setting}").fetchone()
    assert row is not None  # SHOW always returns its one row
    return str(row[0])


def check_external(dsn: str) -> None:
    """Check an existing server for what the pipeline needs; StackError naming the missing setting."""
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            wal_level = _show(conn, "wal_level")
            slots = int(_show(conn, "max_replication_slots"))
    except psycopg.Error as e:
        raise StackError(
            NAME,
            f"cannot connect with GX_PG_DSN: {str(e).strip()}",
            "check host, port, user and that the password is percent-encoded in the URL",
        ) from e
    problem = external_problem(wal_level, slots)
    if problem:
        raise StackError(NAME, problem[0], problem[1])


def external_problem(wal_level: str, max_replication_slots: int) -> tuple[str, str] | None:
    """What an existing server lacks for the pipeline, as (problem, fix); None if it is fit."""
    if wal_level != "logical":
        return (
            f"the server at GX_PG_DSN has wal_level={wal_level}; Debezium needs logical",
            "ALTER SYSTEM SET wal_level = logical; then restart that server",
        )
    if max_replication_slots < MIN_SLOTS:
        return (
            f"max_replication_slots={max_replication_slots} on the server at GX_PG_DSN, need >= {MIN_SLOTS}",
            f"ALTER SYSTEM SET max_replication_slots = {MIN_SLOTS}; then restart that server",
        )
    return None
