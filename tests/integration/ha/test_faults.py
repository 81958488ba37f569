"""The fault harness (bench.faults) on the HA topology in CI (issue 34): its `ha-ci` profile, the
Raft leader (found from the orderers' own metrics) and the submitter's gateway peer each SIGKILLed
under load with rejected commands in flight; every run clean on both sides (nothing lost, doubled
or mis-reported, `gxctl verify` clean). Recovery times are measured, not asserted: the figures
are in docs/faults.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.faults import PROFILES
from tests.integration.ha.helpers import HaStack


@pytest.mark.timeout(1500)  # the profile's own limit (1,200 s) first
def test_the_ha_fault_profile_loses_doubles_and_misreports_nothing(ha: HaStack, tmp_path: Path) -> None:
    args = ["--profile", "ha-ci", "--rate", "15", "--pairs", "30", "--warm", "5", "--after", "10"]
    proc = subprocess.run(
        [sys.executable, "-m", "bench.faults", *args, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=1200,
        env={**os.environ, **ha.env},  # the HA stack's state folder, never the other passes'
    )
    paths = list(tmp_path.glob("faults-*.json"))
    assert len(paths) == 1, f"exit {proc.returncode}: " + proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(paths[0].read_text())
    assert [r["fault"] for r in result["runs"]] == PROFILES["ha-ci"]
    for r in result["runs"]:
        print(r["fault"], {k: r.get(k) for k in ("target", "commands", "rejected", "resume_s", "recovery_s")})
        assert "error" not in r, r
        assert r["commands"] > 100 and r["rejected"] > 0, r
        assert (r["lost"], r["doubled"], r["wrong_status"], r["unexpected_dead_letters"], r["balance_mismatches"]) == (
            0,
            0,
            0,
            0,
            0,
        ), r
        assert r["recovery_s"] is not None and r["drained"], r
        assert r["read_differences"] == 0 and r["read_recovery_s"] is not None, r
    leader = next(r for r in result["runs"] if r["fault"] == "kill-raft-leader")
    assert str(leader.get("target", "")).startswith("orderer"), leader  # found, not guessed
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
