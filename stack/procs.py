"""Background processes with pid files: start, check, stop (by our own pid only), wait for health.

A pid file holds ``pid starttime``; the start time (psutil's create time) guards against a
recycled pid, so `down` can never signal a process we did not start.
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

import psutil

from stack.errors import StackError


def _proc_start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _same_start(recorded: str, actual: float | None) -> bool:
    """Whether a pid file's start time is this process's. Older pid files hold clock ticks since
    boot (an integer) rather than seconds since the epoch; both are understood."""
    if actual is None:
        return False
    try:
        value = float(recorded)
    except ValueError:
        return False
    if "." not in recorded:  # clock ticks since boot, as written before psutil
        value = value / os.sysconf("SC_CLK_TCK") + psutil.boot_time()
    return abs(value - actual) < 0.05


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
        if not _same_start(start, _proc_start_time(pid)) or _is_zombie(pid):
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
        self.pid_file.write_text(f"{pid} {start:.3f}\n")

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
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True
