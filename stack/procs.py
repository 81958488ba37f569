"""Background processes with pid files: start, check, stop (by our own pid only), wait for health.

A process is ours when two things say so, neither of which a clock step can change:

- its pid file holds ``pid ticks boot``: the process's start time in clock ticks since boot, as
  the kernel keeps it (/proc/PID/stat, field 22), and the boot's id (``boot_id``). psutil's
  create time is the boot time plus those ticks, and the boot time moves when the wall clock is
  stepped (a virtual machine's snapshot did that here: every pid file was then taken for stale
  and deleted while the processes ran on). Pids and ticks start again at a reboot, so a record
  of another boot (or of an older format, which names none) proves nothing: the marker decides;
- its environment carries ``GX_PROC=<run dir>:<name>`` (set by :meth:`Proc.start`, inherited by
  what it starts, e.g. the postmaster under pg_ctl).

A pid file whose process still runs is never deleted: if the record does not match (another boot,
or an older pid file in seconds since the epoch, taken before a clock step) but the process
carries our marker, the record is rewritten. A recycled pid (alive, without our marker) is not
ours and is never signalled. A process whose pid file was lost is found again by its marker, and
`stop` ends every process carrying it (its group when it leads one, else the process itself) or
raises, so `down` stops what `up` started in every case and never says so falsely.
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import psutil

from stack.environ import without_credentials
from stack.errors import StackError

MARKER = "GX_PROC"
# The umask of every process the stack starts: files private to their owner.
PRIVATE_UMASK = 0o077


def open_private_log(path: Path) -> BinaryIO:
    """``path`` opened for appending, made 0600 if new (a log may quote what a process was given)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "ab")


@functools.cache
def boot_id() -> str:
    """This boot's id (the kernel's random boot_id): pids and start ticks are unique only within it."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (immune to wall-clock steps), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return int(stat[stat.rindex(")") + 2 :].split()[19])  # field 22; the name (field 2) may hold spaces
    except (ValueError, IndexError):
        return None


def _proc_start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _same_start(recorded: str, pid: int) -> bool:
    """Whether a pid file's start time is the process ``pid``'s. Clock ticks since boot (an
    integer, compared exactly) or, in older pid files, seconds since the epoch (compared with
    psutil's create time, which a clock step moves: the marker then decides, see :class:`Proc`)."""
    if "." not in recorded:
        try:
            return int(recorded) == _start_ticks(pid)
        except ValueError:
            return False
    try:
        value = float(recorded)
    except ValueError:
        return False
    actual = _proc_start_time(pid)
    return actual is not None and abs(value - actual) < 0.05


def _environ(pid: int) -> dict[str, str]:
    try:
        return psutil.Process(pid).environ()
    except psutil.Error:
        return {}


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

    @property
    def marker(self) -> str:
        """The value of GX_PROC that every process started as this one carries."""
        return f"{self.run_dir.resolve()}:{self.name}"

    def marker_env(self, env: dict[str, str] | None = None) -> dict[str, str]:
        """``env`` with the marker, for a process started some other way. Default: this process's
        environment less every credential (stack.environ): a component gets none of the
        variables that hold or name a secret; a worker's own are in the ``env`` it is given."""
        return {**(without_credentials(os.environ) if env is None else env), MARKER: self.marker}

    def _ours(self, pid: int) -> bool:
        return _environ(pid).get(MARKER) == self.marker

    def pid(self) -> int | None:
        """Our pid if the process we started is alive, else None (see the module's doc). A pid file
        is removed only when its process is gone or is not ours; a lost one is found by the marker."""
        try:
            fields = self.pid_file.read_text().split()
            pid, start, boot = int(fields[0]), fields[1], (fields[2] if len(fields) > 2 else None)
        except FileNotFoundError:
            return self.adopt()
        except (OSError, ValueError, IndexError):
            self.pid_file.unlink(missing_ok=True)  # unreadable: the marker finds ours again
            return self.adopt()
        if _start_ticks(pid) is None or _is_zombie(pid):
            self.pid_file.unlink(missing_ok=True)  # gone
            return None
        if boot == boot_id() and _same_start(start, pid):
            return pid
        if self._ours(pid):
            self.record(pid)  # ours after all (another boot's or an older record, or a clock step)
            return pid
        self.pid_file.unlink(missing_ok=True)  # a recycled pid: not ours, never signalled
        return None

    def find(self) -> int | None:
        """A running process carrying this Proc's marker (the session leader if several), or None."""
        found = []
        for p in psutil.process_iter(["pid"]):
            if p.pid != os.getpid() and self._ours(p.pid) and not _is_zombie(p.pid):
                found.append(p.pid)
        leaders = [pid for pid in found if _pgid(pid) == pid]
        return min(leaders or found, default=None)

    def adopt(self) -> int | None:
        """Find our process by its marker and write its pid file again; None if none runs."""
        pid = self.find()
        if pid is not None:
            self.record(pid)
        return pid

    def record(self, pid: int) -> None:
        """Write the pid file for a process started outside :meth:`start` (e.g. by pg_ctl)."""
        ticks = _start_ticks(pid)
        if ticks is None:
            raise StackError(
                self.name, f"process {pid} vanished before its pid file was written", log_tail=tail(self.log_file)
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(f"{pid} {ticks} {boot_id()}\n")
        tmp.replace(self.pid_file)  # never a half-written record

    def start(self, argv: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> int:
        """Start ``argv`` in its own session with the marker in its environment (``env``, default
        :meth:`marker_env`'s), output appended to the log; returns the pid."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open_private_log(self.log_file) as log:
            log.write(f"\n==== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {self.name}\n".encode())
            log.flush()
            p = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.marker_env(env),
                cwd=cwd,
                start_new_session=True,
                umask=PRIVATE_UMASK,  # what it writes (Kafka's data, the ledgers) is its owner's only
            )
        self.record(p.pid)
        return p.pid

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM our process (its group when it leads one), then SIGKILL after ``timeout``; then
        the same for any other process still carrying our marker. False if nothing was running;
        StackError if one of them is still alive after SIGKILL."""
        pid = self.pid()
        if pid is None:
            return False
        for _ in range(10):  # bounded: each round ends one process (and its group)
            _end(pid, timeout)
            self.pid_file.unlink(missing_ok=True)
            left = self.find()
            if left is None:
                return True
            pid = left
        raise StackError(
            self.name, f"process {pid} still carries our marker after being stopped", log_tail=tail(self.log_file)
        )

    def wait_healthy(self, check: Callable[[], bool], timeout: float, what: str, hint: str = "") -> None:
        """Poll ``check`` until true; raise StackError with the log tail if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid() is None:
                raise StackError(self.name, f"exited during start (waiting for: {what})", hint, tail(self.log_file))
            try:
                if check():
                    return
            except Exception:  # a health probe failing is the normal "not yet"
                pass
            time.sleep(0.5)
        raise StackError(
            self.name, f"not healthy after {timeout:.0f}s (waiting for: {what})", hint, tail(self.log_file)
        )


def _gone(pid: int) -> bool:
    return _start_ticks(pid) is None or _is_zombie(pid)


def _end(pid: int, timeout: float) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; StackError if ``pid`` outlives both."""
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _gone(pid):
        return
    _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not _gone(pid):
        raise StackError(f"process {pid}", "still running after SIGKILL")


def _signal(pid: int, sig: int) -> None:
    # Processes are started with start_new_session, so pid == pgid: signal the whole group
    # (the JVM or postgres and any children) but nothing outside it. A process that leads no
    # group (one found by its marker inside another's) is signalled alone.
    try:
        if _pgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _is_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True
