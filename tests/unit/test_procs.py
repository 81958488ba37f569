import sys
from pathlib import Path

import pytest

from stack.errors import StackError
from stack.procs import Proc, port_open, tail
from tests.waiting import wait_until


def test_start_record_and_stop_our_own_process(tmp_path: Path) -> None:
    p = Proc("sleeper", tmp_path / "run", tmp_path / "logs")
    pid = p.start([sys.executable, "-c", "import time; print('hi', flush=True); time.sleep(60)"])
    assert p.pid() == pid
    assert p.stop(timeout=5)
    assert p.pid() is None
    assert not p.pid_file.exists()
    assert "starting sleeper" in tail(p.log_file)


def test_a_recycled_pid_is_never_ours(tmp_path: Path) -> None:
    p = Proc("ghost", tmp_path / "run", tmp_path / "logs")
    p.run_dir.mkdir(parents=True)
    # pid 1 exists but its start time is not the one we recorded: not ours, never signalled.
    p.pid_file.write_text("1 123\n")
    assert p.pid() is None
    assert not p.stop()
    assert not p.pid_file.exists()


def test_a_process_dying_during_start_is_reported_with_its_log(tmp_path: Path) -> None:
    p = Proc("crasher", tmp_path / "run", tmp_path / "logs")
    p.start([sys.executable, "-c", "import sys; print('boom: bad config', flush=True); sys.exit(3)"])
    with pytest.raises(StackError) as e:  # wait_healthy polls, and sees it die
        p.wait_healthy(lambda: False, 10, "never")
    assert "exited during start" in str(e.value)
    assert "boom: bad config" in str(e.value)


def test_a_component_that_never_gets_healthy_times_out_with_its_log(tmp_path: Path) -> None:
    p = Proc("slow", tmp_path / "run", tmp_path / "logs")
    p.start([sys.executable, "-c", "import time; print('still booting', flush=True); time.sleep(60)"])
    try:
        with pytest.raises(StackError, match="not healthy after 1s") as e:
            p.wait_healthy(lambda: False, 1, "a probe")
        assert "still booting" in str(e.value)
    finally:
        p.stop(timeout=5)


def test_port_open_sees_a_listener() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        assert port_open("127.0.0.1", s.getsockname()[1])
    finally:
        s.close()


def test_pid_files_of_either_format_recognise_their_process_and_only_it() -> None:
    import os

    from stack.procs import _proc_start_time, _same_start, _start_ticks

    me, ticks = _proc_start_time(os.getpid()), _start_ticks(os.getpid())
    assert me is not None and ticks is not None
    assert _same_start(str(ticks), os.getpid()) and _same_start(f"{me:.3f}", os.getpid())
    assert not _same_start(str(ticks - 100), os.getpid()) and not _same_start(f"{me - 5:.3f}", os.getpid())
    assert not _same_start("junk", os.getpid())


def test_a_stepped_wall_clock_never_loses_a_running_process(tmp_path: Path, monkeypatch) -> None:
    """Issue 20, item 8: psutil's create time is the boot time plus the start ticks, and the boot
    time moves when the wall clock is stepped (a VM snapshot did it here): every pid file was then
    taken for stale and deleted while the stack ran on; `down` said nothing was running."""
    import psutil

    p = Proc("steady", tmp_path / "run", tmp_path / "logs")
    pid = p.start([sys.executable, "-c", "import time; time.sleep(60)"])
    # start() returns once the exec began; the new program's environment (with the marker this
    # test relies on) is readable a moment later, with its command line.
    wait_until(lambda: psutil.Process(pid).cmdline(), "the started process's command line", timeout=5)
    try:
        created = psutil.Process(pid).create_time()
        older = p.pid_file.read_text()
        p.pid_file.write_text(f"{pid} {created:.3f}\n")  # a record of the previous format (seconds)
        real_boot = psutil.boot_time()
        monkeypatch.setattr(psutil, "boot_time", lambda: real_boot + 7.0)  # the clock stepped 7 s
        monkeypatch.setattr(psutil.Process, "create_time", lambda self: created + 7.0)
        assert p.pid() == pid and p.pid_file.exists()  # the marker says it is ours
        assert p.pid_file.read_text() == older  # and the record is back in ticks
        assert p.pid() == pid  # ticks do not move with the clock
        p.pid_file.unlink()  # even a lost record...
        assert p.pid() == pid and p.pid_file.exists()  # ...is found again by the marker
        p.pid_file.unlink()
        assert p.stop(timeout=5)  # and `down` stops it
        assert p.pid() is None
    finally:
        p.stop(timeout=5)


def test_a_recycled_pid_of_a_process_without_our_marker_is_not_ours(tmp_path: Path) -> None:
    import os
    import subprocess

    from stack.procs import _start_ticks

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        p = Proc("ghost", tmp_path / "run", tmp_path / "logs")
        p.run_dir.mkdir(parents=True)
        ticks = _start_ticks(other.pid)
        assert ticks is not None
        p.pid_file.write_text(f"{other.pid} {ticks - 1}\n")
        assert p.pid() is None and not p.pid_file.exists()
        assert not p.stop() and other.poll() is None and os.getpid()
    finally:
        other.kill()
        other.wait()


def test_a_pid_file_of_another_boot_is_trusted_only_with_our_marker(tmp_path: Path) -> None:
    """Issue 30, item 7: after a reboot, pids and start ticks start again from zero, so a (pid,
    ticks) pair of the previous boot can match an unrelated process. A record of another boot,
    or one that names no boot, must not be trusted without the marker."""
    import subprocess

    from stack.procs import _start_ticks

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # no marker
    try:
        wait_until(lambda: _start_ticks(other.pid) is not None, "the unrelated process", timeout=5)
        ticks = _start_ticks(other.pid)
        p = Proc("ghost", tmp_path / "run", tmp_path / "logs")
        p.run_dir.mkdir(parents=True)
        p.pid_file.write_text(f"{other.pid} {ticks} 00000000-0000-0000-0000-000000000000\n")  # another boot
        assert p.pid() is None and not p.pid_file.exists()
        p.pid_file.write_text(f"{other.pid} {ticks}\n")  # an older record, naming no boot
        assert p.pid() is None and not p.pid_file.exists()
        assert not p.stop() and other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_a_pid_file_names_the_boot_it_was_written_in(tmp_path: Path) -> None:
    from stack.procs import boot_id

    p = Proc("sleeper", tmp_path / "run", tmp_path / "logs")
    pid = p.start([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert p.pid_file.read_text().split() == [str(pid), p.pid_file.read_text().split()[1], boot_id()]
        assert p.pid() == pid
    finally:
        p.stop(timeout=5)


def test_a_marked_process_outside_its_own_group_is_stopped_or_the_stop_fails(tmp_path: Path) -> None:
    """Issue 30, item 7: find() adopted a marked process that was not its group's leader, stop()
    signalled a group that did not exist (ignored) and reported success while it ran on."""
    import os
    import subprocess

    import psutil

    p = Proc("orphan", tmp_path / "run", tmp_path / "logs")
    # A leader without the marker (its own session) whose child carries it: the child's group is
    # the leader's, not its own.
    leader = subprocess.Popen(
        ["/bin/sh", "-c", f"env GX_PROC={p.marker} sleep 60 & wait"],
        start_new_session=True,
    )
    try:
        child = wait_until(lambda: p.find(), "the marked child", timeout=5)
        assert child is not None
        assert os.getpgid(child) == leader.pid != child
        assert p.stop(timeout=2)
        assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE
        assert p.find() is None
    finally:
        leader.kill()
        leader.wait()
