"""What the local stack's processes are given (issue 33): no secret on a command line, and each
process only its own credentials. The pure parts; the running stack's processes are read in
tests/integration/secure/test_stack_hardening.py."""

from __future__ import annotations

import shlex
from pathlib import Path

from stack.kafka import argfile_text, java_argv, with_argfile

SECRET = 'p4ss "w\\rd" =@/'


def test_a_java_argument_file_quotes_every_argument_as_the_launcher_reads_it() -> None:
    text = argfile_text(["Main", "--add-scram", f"SCRAM-SHA-512=[name=gx-admin,password={SECRET}]"])
    assert text.splitlines() == [
        '"Main"',
        '"--add-scram"',
        '"SCRAM-SHA-512=[name=gx-admin,password=p4ss \\"w\\\\rd\\" =@/]"',
    ]


def test_the_storage_tools_secret_goes_into_a_private_argument_file_not_argv(tmp_path: Path) -> None:
    """Finding 4: `--add-scram ...password=...` was in the storage tool's argv, readable in
    /proc/PID/cmdline by any local user while it ran."""
    argv = java_argv("java", "256m", tmp_path, "kafka.tools.StorageTool", "format", "--add-scram", f"x={SECRET}")
    moved = with_argfile(argv, "kafka.tools.StorageTool", tmp_path / "f.args")
    assert moved[-1] == f"@{tmp_path / 'f.args'}" and moved[:-1] == argv[: argv.index("kafka.tools.StorageTool")]
    assert not any(SECRET in a or "kafka.tools.StorageTool" in a for a in moved)
    assert (tmp_path / "f.args").stat().st_mode & 0o777 == 0o600
    assert SECRET not in shlex.join(moved)
