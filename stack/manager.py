"""The whole local stack: start in order, stop in reverse, report status and the environment.

Concurrent `up`/`down` calls (two terminals, parallel test runs, the watchdog's restarts) are
serialised by a file lock in the state directory. What `up` started is recorded as desired
(stack.runstate), and the watchdog (stack.watchdog) starts it again if it dies; `down` removes it
first.
"""

from __future__ import annotations

import fcntl
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from gxcommon.private_files import make_private
from schemas.roles import CDC, worker_role
from stack import fabric_ha
from stack.connect import Connect
from stack.environ import FABRIC_WORKERS, fabric_identity
from stack.errors import StackError
from stack.fabric_net import Chaincode, FabricNet, Orderer, Peer
from stack.kafka import Kafka
from stack.kafka_security import principal
from stack.mode import is_secure, make_secure
from stack.postgres import Postgres
from stack.procs import Proc
from stack.prometheus import Prometheus
from stack.runstate import Desired
from stack.settings import StackSettings


class Component(Protocol):
    proc: Proc

    def up(self) -> None: ...
    def down(self) -> bool: ...
    def healthy(self) -> bool: ...


class Stack:
    def __init__(self, s: StackSettings | None = None) -> None:
        self.s = s or StackSettings()
        self.postgres = Postgres(self.s)
        self.kafka = Kafka(self.s)
        self.connect = Connect(self.s, self.kafka.bootstrap, self.kafka)
        self.topology = fabric_ha.choose_topology(self.s)
        self.components: dict[str, Component] = {
            "postgres": self.postgres,
            "kafka": self.kafka,
            "connect": self.connect,
        }
        if self.topology == fabric_ha.HA:
            self.fabric: FabricNet
            self.fabric, fabric = fabric_ha.components(self.s)
            self.components.update(fabric)
        else:
            self.fabric = FabricNet(self.s)
            self.components.update(
                {"orderer": Orderer(self.fabric), "peer": Peer(self.fabric), "chaincode": Chaincode(self.fabric)}
            )
        # Optional: started only when asked for (`stack up --with-monitoring`, or `--only prometheus`).
        self.prometheus = Prometheus(self.s)
        self.optional: dict[str, Component] = {"prometheus": self.prometheus}
        self.components.update(self.optional)
        self.watchdog = Proc("watchdog", self.s.run_dir, self.s.log_dir)

    def _select(self, only: list[str] | None) -> list[str]:
        names = list(self.components)
        unknown = set(only or []) - set(names)
        if unknown:
            raise StackError(
                "stack", f"unknown component(s): {', '.join(sorted(unknown))}", f"choose from: {', '.join(names)}"
            )
        if only:
            return [n for n in names if n in only]
        return [n for n in names if n not in self.optional or self.components[n].proc.pid() is not None]

    @contextmanager
    def locked(self) -> Iterator[None]:
        """The stack's lock (not re-entrant: never nest it)."""
        with self._locked():
            yield

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.s.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.s.state_dir / ".lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def up(
        self,
        only: list[str] | None = None,
        say: Callable[[str], None] = lambda line: None,
        monitoring: bool = False,
        secure: bool = False,
    ) -> None:
        """Start every selected component in dependency order and wait for real health; ``say``
        gets a line per component as it is ready, with the time it took. ``monitoring`` adds the
        optional Prometheus; ``secure`` makes a new stack secure (stack.mode; StackError for a
        stack made without it)."""
        with self._locked():
            # The state folder and all it holds are the user's only (data, logs, configs, secrets);
            # Postgres' own folder too when it lives elsewhere (as root: the postgres user's).
            make_private(self.s.state_dir)
            if self.postgres.home.exists() and not self.postgres.home.is_relative_to(self.s.state_dir):
                make_private(self.postgres.home)
            if self.topology == fabric_ha.HA:
                if secure or is_secure(self.s):
                    raise StackError(
                        "fabric", "the HA topology has no secure mode yet", "drop --secure or --topology ha"
                    )
                fabric_ha.topology_file(self.s).parent.mkdir(parents=True, exist_ok=True)
                fabric_ha.topology_file(self.s).write_text(fabric_ha.HA + "\n")
            if secure:
                make_secure(
                    self.s,
                    {
                        "kafka": self.kafka.data / "meta.properties",
                        "postgres": self.postgres.data / "PG_VERSION",
                        "fabric": self.fabric.paths.crypto,
                    },
                )
            names = self._select(only)
            if monitoring and "prometheus" not in names:
                names.append("prometheus")
            for name in names:
                t0 = time.monotonic()
                say(f"{name}: starting...")
                self.components[name].up()
                Desired.change(self.s.run_dir, add={name})
                say(f"{name}: ready ({time.monotonic() - t0:.1f}s)")
            self.start_watchdog()

    def start_watchdog(self) -> None:
        """Start the watchdog if it is not running (it restarts what is desired and dies)."""
        import sys

        if self.watchdog.pid() is None:
            self.watchdog.start([sys.executable, "-m", "stack.watchdog"])

    def stop_watchdog(self) -> bool:
        return self.watchdog.stop(timeout=15)

    def restart(self, name: str) -> bool:
        """Start component ``name`` again if it is still desired and still down (the watchdog's
        restart, under the lock). True if it was started; StackError if it could not be."""
        with self._locked():
            if name not in Desired.load(self.s.run_dir).names or self.components[name].proc.pid() is not None:
                return False
            self.components[name].up()
            return True

    def down(self, only: list[str] | None = None, purge: bool = False) -> list[str]:
        """Stop what we started (reverse order); with ``purge`` also delete all stack data. Returns what stopped."""
        stopped = []
        if not only:
            self.stop_watchdog()  # first: it would start again what is being stopped
        with self._locked():
            names = self._select(only)
            if only:
                Desired.change(self.s.run_dir, remove=set(names))
            else:
                Desired.clear(self.s.run_dir)
            for name in reversed(names):
                if self.components[name].down():
                    stopped.append(name)
            if purge and not only:
                self.postgres.purge()
                for sub in ("kafka", "connect", "fabric", "prometheus", "run", "secrets"):
                    shutil.rmtree(self.s.state_dir / sub, ignore_errors=True)
        return stopped

    def status(self) -> list[dict[str, Any]]:
        """One row per component; an optional one (Prometheus) only while it runs."""
        rows = []
        nodes = fabric_ha.node_state(self.s) if self.topology == fabric_ha.HA else {}
        for name, comp in self.components.items():
            external = name == "postgres" and self.postgres.external_dsn() is not None
            pid = comp.proc.pid()
            if name in self.optional and pid is None:
                continue
            try:
                healthy = comp.healthy() if (pid or external) else False
            except Exception:
                healthy = False
            rows.append(
                {
                    "component": name,
                    "pid": pid,
                    "running": pid is not None or external,
                    "healthy": healthy,
                    "external": external,
                    "endpoint": self._endpoint(name),
                    "log": str(comp.proc.log_file),
                    # The HA network's nodes: ledger height and Raft leadership (fabric_ha.node_state).
                    **nodes.get(name, {}),
                }
            )
        return rows

    def _endpoint(self, name: str) -> str:
        if name == "postgres":
            return f"{self.s.host}:{self.s.pg_port}" if not self.postgres.external_dsn() else "GX_PG_DSN"
        if name == "kafka":
            return self.kafka.bootstrap
        if name == "connect":
            return self.connect.url
        if name == "prometheus":
            return self.prometheus.url
        if self.topology == fabric_ha.HA:
            return fabric_ha.endpoints(self.s)[name]
        port = {"orderer": self.s.orderer_port, "peer": self.s.peer_port, "chaincode": self.s.chaincode_port}[name]
        return f"{self.s.host}:{port}"

    def env(self) -> dict[str, str]:
        """What every process reads (see gxcommon.settings)."""
        env = {"GX_STATE_DIR": str(self.s.state_dir)}
        dsn = self.postgres.dsn()
        if dsn:
            env["GX_PG_DSN"] = dsn
            if self.postgres.secure and not self.postgres.external_dsn():
                env["GX_PG_CDC_DSN"] = self.postgres.role_dsn(CDC)
        env["GX_KAFKA_BOOTSTRAP"] = self.kafka.bootstrap
        env.update(self.kafka.client_env())  # the admin's credentials, when secure
        env.update(self.kafka.replay_env())  # `gxctl dlq replay`'s own principal, when secure
        env["GX_CONNECT_URL"] = self.connect.url
        env.update(self.connect.rest_login())  # basic auth, when secure
        env["GX_CONNECT_SECRETS_DIR"] = str(self.connect.secrets)
        if self.prometheus.proc.pid() is not None:
            env["GX_PROMETHEUS_URL"] = self.prometheus.url
        env.update(self.fabric.env())
        return env

    def worker_env(self, worker: str) -> dict[str, str]:
        """A worker's own credentials (the rest of its environment has none: stack.environ): its
        Postgres login (when secure its own role, each allowed its job only) with a password file
        holding that login's line only, its own Kafka principal when secure, and a Fabric identity
        only for the workers that talk to the ledger (the submitter's second one, for the
        user-level commands, to the submitter only); when secure, the submitter refuses a command
        its service may not send (GX_SERVICE_CHECK)."""
        env = self.kafka.client_env(principal(worker))
        if self.postgres.secure and not self.postgres.external_dsn():
            env["GX_PG_DSN"] = self.postgres.role_dsn(worker_role(worker))
        elif dsn := self.postgres.dsn():
            env["GX_PG_DSN"] = dsn
            if self.s.pg_password_file is not None:  # an external server's password, from the user's file
                env["GX_PG_PASSWORD_FILE"] = str(self.s.pg_password_file)
        if worker in FABRIC_WORKERS:
            env.update(fabric_identity(self.fabric.env(), commands=worker == "submitter"))
        if self.postgres.secure and worker == "submitter":
            env["GX_SERVICE_CHECK"] = "1"
        return env

    def log_file(self, name: str) -> str:
        """The log of a component, or of a worker `gxctl up` started (same log directory)."""
        if name in self.components:
            return str(self.components[name].proc.log_file)
        worker_log = self.s.log_dir / f"{name}.log"
        if not worker_log.exists():
            self._select([name])  # raises, listing the components
        return str(worker_log)
