"""`gxctl up` / `gxctl status`: the stack, schema, topics, connector and workers, with health endpoints."""

from __future__ import annotations

import json
import urllib.request

from stack.pipeline import WORKERS, Pipeline
from tests.integration.conftest import gxctl


def test_up_starts_every_worker_with_metrics_and_health(pipeline: dict[str, str]) -> None:
    proc = gxctl("up", check=False)
    assert proc.returncode == 0, proc.stderr
    assert "connector gx-outbox: RUNNING" in proc.stdout
    rows = {r["component"]: r for r in json.loads(gxctl("status", "--json").stdout)}
    ports = Pipeline().ports
    for name, port in ports.items():
        assert rows[name]["healthy"], rows[name]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
            ready = json.load(r)
        assert ready["status"] == "ready" and ready["partitions"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            assert r.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
        assert "results_writer_updates_total" in text or name != "results-writer"
    # A second `up` finds everything running and starts nothing new.
    pids = {n: rows[n]["pid"] for n in WORKERS}
    gxctl("up")
    rows = {r["component"]: r for r in json.loads(gxctl("status", "--json").stdout)}
    assert {n: rows[n]["pid"] for n in WORKERS} == pids
    for proc in Pipeline().workers.values():  # leave the shared stack as the other tests expect it
        assert proc.stop(timeout=30)
