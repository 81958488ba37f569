"""Every benchmark refuses a bad number at once, with one line naming the option, before it
looks for a stack (a negative rate used to run a whole benchmark)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.common import positive, positive_list

BAD = [
    ("bench.e2e", ["--rate", "-5"], "--rate"),
    ("bench.e2e", ["--find-max", "100,0"], "--find-max"),
    ("bench.e2e", ["--duration", "abc"], "--duration"),
    ("bench.levers", ["--rounds", "0"], "--rounds"),
    ("bench.fabric_ceiling", ["--levels", "1,x"], "--levels"),
    ("bench.faults", ["--warm", "-1"], "--warm"),
    ("bench.outbox_capture", ["--rates", ""], "--rates"),
    ("bench.security_cost", ["--pairs", "2.5"], "--pairs"),
    ("bench.hot_keys", ["--modes", "shard,nope"], "--modes"),
]


@pytest.mark.parametrize(("module", "args", "option"), BAD)
def test_a_bad_number_is_one_error_line_naming_the_option(module: str, args: list[str], option: str) -> None:
    p = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p.stdout + p.stderr
    errors = [line for line in p.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and option in errors[0], p.stderr
    assert "Traceback" not in p.stderr and not p.stdout


def test_the_types_accept_what_is_valid() -> None:
    assert positive()("2.5") == 2.5 and positive(int)("3") == 3 and positive(zero=True)("0") == 0.0
    assert positive_list(int)("1, 50,500") == [1, 50, 500]
