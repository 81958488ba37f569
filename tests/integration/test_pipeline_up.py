"""`gxctl up` / `gxctl status` / `gxctl demo`: the stack, schema, topics, connector and every worker,
with health endpoints, and the demo story through the whole pipeline."""

from __future__ import annotations

import json
import os
import urllib.request

from gxcommon.worker_settings import WorkerSettings
from projections.groups import GROUPS
from stack.pipeline import Pipeline
from tests.integration.conftest import gxctl
from tests.integration.workers import metric_value, start_group_at_end

SETUP = ("BOOTSTRAP_SYSTEM", "INITIALIZE_COUNTRY", "ACTIVATE_TREASURY")


def test_up_starts_every_worker_and_the_demo_goes_through_all_25_types(pipeline: dict[str, str]) -> None:
    # The default submitter group starts where a long-lived one would be: past the commands other
    # tests wrote (a replay of them could pause the test ledger between a PAUSE and its RESUME).
    start_group_at_end(pipeline["GX_KAFKA_BOOTSTRAP"], f"{WorkerSettings().app_id}-submitter", "gx.commands")
    proc = gxctl("up", check=False)
    assert proc.returncode == 0, proc.stderr
    assert "connector gx-outbox: RUNNING" in proc.stdout
    try:
        check_workers_and_demo()
    finally:
        Pipeline().stop_workers()  # leave the shared stack as the other tests expect it


def status_rows() -> dict[str, dict]:
    return {r["component"]: r for r in json.loads(gxctl("status", "--json", check=False).stdout)["components"]["rows"]}


def check_workers_and_demo() -> None:
    rows = status_rows()
    pipeline = Pipeline()
    ports = {name: pipeline.ports[name] for name in pipeline.wanted()}
    # The projection groups in one process; in the secure mode one per group (each its own principal).
    groups = [f"projector-{g}" for g in GROUPS] if os.environ.get("GX_TEST_SECURE") == "1" else ["projectors"]
    assert set(ports) == {"results-writer", "submitter", "block-publisher", *groups}
    for name, port in ports.items():
        assert rows[name]["healthy"], rows[name]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
            ready = json.load(r)
        # every worker but the publisher (which reads the peer, not Kafka) holds partitions; the
        # projection workers' groups (own consumers) each say so in their own readiness check
        assert ready["status"] == "ready" and (
            bool(ready["partitions"]) or name == "block-publisher" or name.startswith("projector")
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            assert r.status == 200
    if os.environ.get("GX_TEST_SECURE") == "1":  # each worker logs in to Kafka as its own principal
        import psutil

        for name in ports:
            env = psutil.Process(rows[name]["pid"]).environ()
            assert (env["GX_KAFKA_SECURITY_PROTOCOL"], env["GX_KAFKA_USERNAME"]) == ("SASL_SSL", f"gx-{name}")
    sub, writer = (f"http://127.0.0.1:{ports[n]}" for n in ("submitter", "results-writer"))
    confirmed0 = metric_value(sub, "outbox_commands_processed_total", {"status": "CONFIRMED"})
    written0 = metric_value(writer, "results_writer_updates_total", {"status": "CONFIRMED"})
    demo = gxctl("demo", "--json", check=False, timeout=900)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    summary = json.loads(demo.stdout)
    assert summary["types"] == 25 and summary["unexpected"] == []
    failed = {f["commandType"]: f for f in summary["failed"]}
    # Only the bad commands on purpose, and the set-up when this ledger was set up before (it
    # answered "already ...", so it went through the pipeline to the chaincode too).
    assert set(failed) <= {"CREATE_USER", "TRANSFER_TOKENS", *SETUP}
    assert all("already" in failed[t]["error"] for t in SETUP if t in failed)
    confirmed = summary["commands"] - len(summary["failed"])
    assert confirmed >= 31 - len(set(SETUP) & set(failed))
    # The workers counted them: values, not names.
    assert metric_value(sub, "outbox_commands_processed_total", {"status": "CONFIRMED"}) - confirmed0 >= confirmed
    assert metric_value(writer, "results_writer_updates_total", {"status": "CONFIRMED"}) - written0 >= confirmed
    # A second `up` finds everything running and starts nothing new.
    pids = {n: rows[n]["pid"] for n in ports}
    gxctl("up")
    rows = status_rows()
    assert {n: rows[n]["pid"] for n in ports} == pids
