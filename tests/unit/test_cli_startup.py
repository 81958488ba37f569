"""`gxctl --help` and `--version` import no settings (issue 23: pydantic-settings alone took 0.3 s)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
sys.argv = ["gxctl", *sys.argv[1:]]
from gxctl.main import main
try:
    main()
except SystemExit as e:
    code = e.code
print("IMPORTED", sorted(m for m in ("pydantic_settings", "pydantic", "gxcommon.settings") if m in sys.modules))
"""


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_import_no_settings(flag: str) -> None:
    out = subprocess.run([sys.executable, "-c", PROBE, flag], capture_output=True, text=True, timeout=60).stdout
    assert out.strip().splitlines()[-1] == "IMPORTED []"


def test_a_failing_command_still_reports_one_line_with_the_debug_setting_read_late() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gxctl.main", "no-such-command"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2 and "no such command 'no-such-command'" in proc.stderr
