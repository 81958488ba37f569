"""The fault harness (bench.faults) in CI: its reduced profile on the real pipeline, every run clean.

Every run is checked on both sides: the write path's verdict and the read side's (`gxctl verify`
clean, every projector caught up after the fault). The full profile (every fault, longer load)
runs on demand and its figures are in docs/faults.md; CI runs a few faults with a small load so
that the suite stays well inside its time limit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.faults import PROFILES
from bench.read_inputs import INPUTS


@pytest.mark.timeout(1800)  # the profile's own limit (1,500 s) first
def test_the_reduced_fault_profile_loses_doubles_and_misreports_nothing(up: dict[str, str], tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.faults",
            "--profile",
            "ci",
            "--rate",
            "15",
            "--pairs",
            "30",
            "--warm",
            "5",
            "--after",
            "10",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    paths = list(tmp_path.glob("faults-*.json"))
    assert len(paths) == 1, f"exit {proc.returncode}: " + proc.stdout[-3000:] + proc.stderr[-3000:]
    [path] = paths
    result = json.loads(path.read_text())
    assert [r["fault"] for r in result["runs"]] == PROFILES["ci"]
    for r in result["runs"]:
        assert "error" not in r, r  # the harness itself failed in that run
        assert r["commands"] > 100, r
        assert (r["lost"], r["doubled"], r["wrong_status"], r["unexpected_dead_letters"], r["balance_mismatches"]) == (
            0,
            0,
            0,
            0,
            0,
        ), r
        assert r["recovery_s"] is not None and r["drained"], r
        assert r["rejected"] > 0, r  # issue 30: rejected commands in flight during every fault
        if r["fault"] == "hostile-records":  # each one dead-lettered with its partition and offset
            hr = r["hostile_records"]
            assert hr["ok"] and hr["missing"] == [] and hr["dead_lettered"] >= 5, hr
        assert r["read_differences"] == 0 and r["read_recovery_s"] is not None, r
        if r["fault"] in INPUTS:  # issue 32: lag back to 0, the bad events dead-lettered, repaired
            ri = r["read_inputs"]
            assert ri["ok"] and ri["lag_zero_s"] is not None and ri["dead_letters_wrong"] == [], ri
            assert ri["dead_letters"] and ri["repair"]["exit"] == 0, ri
    bad = next(r["read_inputs"]["paths"] for r in result["runs"] if r["fault"] == "bad-inputs")
    for name in ("nul-text", "control-text", "long-id", "near-size-limit"):
        assert bad[name]["sdk"].startswith("refused by the command model"), bad  # the edge refuses it
        assert bad[name]["outbox"].startswith("refused by the command model"), bad
    for name in ("nul-text", "control-text", "long-id"):
        assert bad[name]["sdk raw"].startswith("REJECTED"), bad  # the submitter, past the SDK
    assert bad["nul-text"]["outbox raw"].startswith("refused by Postgres"), bad  # jsonb has no NUL
    assert "FAILED INVALID_PAYLOAD" in bad["control-text"]["outbox raw"], bad
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
