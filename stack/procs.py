"""Background processes with pid files: start, check, stop (by our own pid only), wait for health.

A pid file holds ``pid starttime``; the start time (from /proc) guards against a recycled pid,
so `down` can never signal a process we did not start.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from stack.errors import StackError


def _proc_start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            # Field 22 (starttime); the command name (field 2) may contain spaces, so split after ')'.
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file, or a note that it does not exist."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(data.splitlines()[-lines:])


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Proc:
    """One managed process: its name, pid file and log."""

    name: str
    run_dir: Path
    log_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """Our pid if the process we started is still alive, else None (a stale file is removed)."""
        try:
            pid_s, start = self.pid_file.read_text().split()
            pid = int(pid_s)
        except (OSError, ValueError):
            return None
        if _proc_start_time(pid) != start or _is_zombie(pid):
            self.pid_file.unlink(missing_ok=True)
            return None
        return pid

    def record(self, pid: int) -> None:
        """Write the pid file for a process started outside :meth:`start` (e.g. by pg_ctl)."""
        start = _proc_start_time(pid)
        if start is None:
            raise StackError(self.name, f"process {pid} vanished before its pid file was written",
                             log_tail=tail(self.log_file))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(f"{pid} {start}\n")

    def start(self, argv: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> int:
        """Start ``argv`` in its own session, output appended to the log; returns the pid."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            log.write(f"\n==== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {self.name}\n".encode())
            log.flush()
            p = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env=env, cwd=cwd, start_new_session=True)
        self.record(p.pid)
        return p.pid

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM our process group, then SIGKILL after ``timeout``. False if nothing was running."""
        pid = self.pid()
        if pid is None:
            return False
        _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _proc_start_time(pid) is None or _is_zombie(pid):
                break
            time.sleep(0.1)
        else:
            _signal(pid, signal.SIGKILL)
            time.sleep(0.2)
        self.pid_file.unlink(missing_ok=True)
        return True

    def wait_healthy(self, check: Callable[[], bool], timeout: float, what: str, hint: str = "") -> None:
        """Poll ``check`` until true; raise StackError with the log tail if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid() is None:
                raise StackError(self.name, f"exited during start (waiting for: {what})", hint,
                                 tail(self.log_file))
            try:
                if check():
                    return
            except Exception:  # a health probe failing is the normal "not yet"
                pass
            time.sleep(0.5)
        raise StackError(self.name, f"not healthy after {timeout:.0f}s (waiting for: {what})", hint,
                         tail(self.log_file))


def _signal(pid: int, sig: int) -> None:
    # Processes are started with start_new_session, so pid == pgid: signal the whole group
    # (the JVM or postgres and any children) but nothing outside it.
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
