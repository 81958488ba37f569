"""scripts/prereqs.sh names every missing tool at once, each with the command that installs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "prereqs.sh"


def _run(path_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env={"PATH": str(path_dir), "HOME": os.environ.get("HOME", "/root"), **env},
        timeout=60,
    )


def _bin_with(tmp_path: Path, *tools: str) -> Path:
    """A PATH directory holding only the shell utilities the script uses, and ``tools``."""
    d = tmp_path / "bin"
    d.mkdir()
    for name in ("sed", "sort", "head", "id", "ls", "printf", "tr", "dirname", *tools):
        real = subprocess.run(["/bin/bash", "-c", f"command -v {name}"], capture_output=True, text=True).stdout.strip()
        if real.startswith("/"):
            (d / name).symlink_to(real)
    (d / "python3").symlink_to(sys.executable)
    return d


def test_every_missing_tool_is_named_with_its_fix_in_one_run(tmp_path: Path) -> None:
    proc = _run(_bin_with(tmp_path), GX_FABRIC_HOME=str(tmp_path / "no-fabric"))
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    named = {line.split(":")[0].strip() for line in lines if line.startswith("  ") and not line.startswith("    ")}
    assert {"java", "maven", "node", "go", "git", "fabric"} <= named, proc.stderr
    assert proc.stderr.count("fix:") == len(named)
    assert "make fabric" in proc.stderr and "openjdk-17-jdk-headless" in proc.stderr


def test_the_python_scope_checks_python_only(tmp_path: Path) -> None:
    proc = _run(_bin_with(tmp_path), "python", GX_FABRIC_HOME=str(tmp_path / "no-fabric"))
    assert (proc.returncode, proc.stderr) == (0, "")


def test_a_python_too_old_is_named_with_its_version(tmp_path: Path) -> None:
    d = _bin_with(tmp_path)
    old = tmp_path / "python3.9"
    old.write_text('#!/bin/bash\necho "3.9"\n')
    old.chmod(0o755)
    proc = _run(d, "python", PYTHON=str(old))
    assert proc.returncode == 1
    assert "is 3.9, 3.11 or newer is needed" in proc.stderr


def test_a_go_older_than_the_tools_need_is_named_with_its_version(tmp_path: Path) -> None:
    d = _bin_with(tmp_path)
    (d / "go").write_text('#!/bin/bash\necho "go1.22.0"\n')  # `go env GOVERSION`
    (d / "go").chmod(0o755)
    proc = _run(d, GX_FABRIC_HOME=str(tmp_path / "no-fabric"))
    assert "go is 1.22.0, 1.26 or newer is needed" in proc.stderr, proc.stderr
