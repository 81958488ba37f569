import sys
import time
from pathlib import Path

import pytest

from stack.errors import StackError
from stack.procs import Proc, port_open, tail


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
    time.sleep(0.5)
    with pytest.raises(StackError) as e:
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

    import psutil

    from stack.procs import _proc_start_time, _same_start

    me = _proc_start_time(os.getpid())
    assert me is not None and _same_start(f"{me:.3f}", me)
    ticks = round((me - psutil.boot_time()) * os.sysconf("SC_CLK_TCK"))  # as /proc's starttime was recorded
    assert _same_start(str(ticks), me)
    assert not _same_start(f"{me - 5:.3f}", me) and not _same_start(str(ticks - 100), me)
    assert not _same_start("junk", me) and not _same_start(f"{me:.3f}", None)
