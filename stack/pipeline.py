"""The whole local pipeline: the stack, then migrations, topics and the outbox connector, then the
workers in the background (pid files and logs in the state directory, like the stack's own).

Each worker serves /metrics, /healthz and /readyz on its own loopback port; `up` waits for /readyz.
"""

from __future__ import annotations

import functools
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from connectors.deploy import PasswordSource
from gxcommon import topics
from gxcommon.settings import connection_settings
from stack.environ import process_env
from stack.errors import StackError
from stack.init import init
from stack.manager import Stack
from stack.mode import is_secure
from stack.procs import Proc, port_open
from stack.runstate import Desired, restarts
from stack.workers import WORKERS, ports, workers_for


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return r.status == 200
    except (OSError, urllib.error.HTTPError):
        return False


class Pipeline:
    def __init__(self, stack: Stack | None = None) -> None:
        self.stack = stack or Stack()
        s = self.stack.s
        self.workers = {name: Proc(name, s.run_dir, s.log_dir) for name in WORKERS}
        self.ports = ports(s)

    def wanted(self) -> tuple[str, ...]:
        """The workers of this stack's mode (known once the stack was made)."""
        return workers_for(is_secure(self.stack.s))

    def up(self, say: Callable[[str], None] = lambda line: None, secure: bool = False) -> list[str]:
        """Start everything (idempotent); ``say`` gets each step as it completes; returns the
        steps' lines too. ``secure``: a new stack in the secure mode (stack.mode)."""
        done: list[str] = []

        def step(line: str) -> None:
            done.append(line)
            say(line)

        self.stack.up(say=say, secure=secure)
        env = self.stack.env()

        if self.stack.kafka.secure:  # this process's own Kafka clients (topics, connector) as the admin
            os.environ.update(self.stack.kafka.client_env())
            connection_settings.cache_clear()
        for line in init(
            env["GX_PG_DSN"],
            env["GX_KAFKA_BOOTSTRAP"],
            self.stack.connect.endpoint,
            topics.TopicSettings(),
            PasswordSource(secrets_dir=Path(env["GX_CONNECT_SECRETS_DIR"])),
            env.get("GX_PG_CDC_DSN"),
            connect_poll_ms=connection_settings().connect_poll_ms,
        ):
            step(line)
        for name in self.wanted():
            t0 = time.monotonic()
            with self.stack.locked():
                self._start_worker(name, env)
                Desired.change(self.stack.s.run_dir, add={name})
            step(
                f"worker {name}: ready ({time.monotonic() - t0:.1f}s), pid {self.workers[name].pid()}, "
                f"http://127.0.0.1:{self.ports[name]}/metrics"
            )
        return done

    def _start_worker(self, name: str, env: dict[str, str]) -> None:
        """Start worker ``name`` unless it runs, and wait for its /readyz (call under the lock).
        ``env``: the stack's (and any other) variables, of which it gets all but the credentials,
        and then only its own (stack.environ, Stack.worker_env)."""
        proc, port = self.workers[name], self.ports[name]
        if proc.pid() is None:
            if port_open("127.0.0.1", port):
                raise StackError(
                    name,
                    f"port {port} is taken by a process we did not start",
                    "stop that process, or set GX_WORKER_PORT_BASE to free ports",
                )
            own = {**self.stack.worker_env(name), "GX_WEB_PORT": str(port)}
            proc.start([sys.executable, "-m", "gxctl.main", "run", name], env=process_env(os.environ, env, own))
        proc.wait_healthy(functools.partial(_ready, port), 90, f"http://127.0.0.1:{port}/readyz answering 200")

    def restart(self, name: str) -> bool:
        """Start ``name`` (a component or a worker) again if it is still desired and still down:
        the watchdog's restart. True if it was started; StackError if it could not be."""
        if name in self.stack.components:
            return self.stack.restart(name)
        env = self.stack.env()
        with self.stack.locked():
            if name not in Desired.load(self.stack.s.run_dir).names or self.workers[name].pid() is not None:
                return False
            self._start_worker(name, env)
            return True

    def stop_workers(self) -> list[str]:
        """Stop every worker `up` started, and no longer want them (the watchdog leaves them down);
        the stack keeps running. Returns the workers that were running."""
        with self.stack.locked():
            Desired.change(self.stack.s.run_dir, remove=set(self.workers))
        return [name for name, proc in self.workers.items() if proc.stop(timeout=30)]

    def down(self, purge: bool = False) -> list[str]:
        self.stack.stop_watchdog()  # first: it would start again what is being stopped
        return self.stop_workers() + self.stack.down(purge=purge)

    def status(self) -> list[dict[str, Any]]:
        rows = self.stack.status()
        wanted = self.wanted()
        for name in WORKERS:  # the mode's workers, and any other running (a benchmark's split)
            port, pid = self.ports[name], self.workers[name].pid()
            if name not in wanted and pid is None:
                continue
            rows.append(
                {
                    "component": name,
                    "pid": pid,
                    "running": pid is not None,
                    "healthy": pid is not None and _ready(port),
                    "endpoint": f"http://127.0.0.1:{port}",
                    "log": str(self.workers[name].log_file),
                }
            )
        counts = restarts(self.stack.s.run_dir)
        for row in rows:
            row["restarts"] = counts.get(row["component"], {}).get("restarts", 0)
        return rows
