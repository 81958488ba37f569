"""The alert rules pass `promtool check rules` and their unit tests (`promtool test rules`), and
those tests would catch a wrong threshold. promtool is a pinned Go module build (stack.gotools)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from stack import gotools
from stack.settings import StackSettings

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "monitoring" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> Path:
    return gotools.require("promtool", StackSettings().cache_dir)


def run(promtool: Path, *args: str, cwd: Path = PROM) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(promtool), *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_rules_are_valid(promtool: Path) -> None:
    proc = run(promtool, "check", "rules", "rules/gx-pipeline.rules.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 17 rules found" in proc.stdout


def test_rule_unit_tests_pass(promtool: Path) -> None:
    proc = run(promtool, "test", "rules", "tests/gx-pipeline.rules.test.yml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


@pytest.mark.parametrize(
    "old,new,alert",
    [
        ("projection_lag_milliseconds) > 5000", "projection_lag_milliseconds) > 50000", "GxProjectionLagHigh"),
        ("projector_batch_retries) >= 3", "projector_batch_retries) >= 30", "GxProjectorBatchRetrying"),
        (
            'circuit_breaker_state{name="fabric"}) > 0',
            'circuit_breaker_state{name="fabric"}) == 2',
            "GxCircuitBreakerOpen",
        ),
        (
            "increase(submitter_chaincode_refusals_total[5m])) > 0",
            "increase(submitter_chaincode_refusals_total[5m])) > 100",
            "GxChaincodeRefusing",
        ),
    ],
)
def test_the_unit_tests_catch_a_wrong_rule(promtool: Path, tmp_path: Path, old: str, new: str, alert: str) -> None:
    shutil.copytree(PROM, tmp_path / "prometheus")
    rules = tmp_path / "prometheus" / "rules" / "gx-pipeline.rules.yml"
    text = rules.read_text()
    assert old in text
    rules.write_text(text.replace(old, new))
    proc = run(promtool, "test", "rules", "tests/gx-pipeline.rules.test.yml", cwd=tmp_path / "prometheus")
    assert proc.returncode == 1
    assert f"alertname: {alert}" in proc.stdout + proc.stderr
