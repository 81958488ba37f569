"""Monitoring on the real stack: every worker, Connect and the Fabric nodes export what the
dashboards and alert rules query; `gxctl stack up --with-monitoring` scrapes them all with the
rules loaded; `gxctl report` draws the dashboards from it; `gxctl status` shows the pipeline."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitoring.files import SYNTHETIC, all_queries, metric_names
from stack.manager import Stack
from stack.pipeline import Pipeline
from tests.integration.conftest import gxctl
from tests.integration.workers import get
from tests.waiting import wait_until

SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
}


def exported(url: str) -> set[str]:
    """Every series name a /metrics page offers, also for families that have no sample yet."""
    code, text = get(url)
    assert code == 200, f"{url}: {code}"
    names = set()
    for fam in text_string_to_metric_families(text):
        names.add(fam.name)
        names |= {fam.name + s for s in SUFFIXES.get(fam.type, ())}
        names |= {s.name for s in fam.samples}
    return names


@pytest.fixture(scope="module")
def monitored(up: dict[str, str]) -> Iterator[Stack]:
    proc = gxctl("stack", "up", "--with-monitoring", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stack = Stack()
    yield stack
    gxctl("stack", "down", "--only", "prometheus", check=False)


def prom(stack: Stack, path: str) -> dict:
    with urllib.request.urlopen(f"{stack.prometheus.url}{path}", timeout=10) as r:
        return json.load(r)["data"]


def last_scrape_of_all(stack: Stack) -> float:
    """The time of the oldest of every target's last scrape (0 before any)."""
    result = prom(stack, "/api/v1/query?query=" + urllib.parse.quote("min(timestamp(up))"))["result"]
    return float(result[0]["value"][1]) if result else 0.0


def scraped_twice_since(stack: Stack, t: float) -> None:
    """Until every target has been scraped twice after ``t`` (wall-clock seconds): a rate over the
    window then sees what happened before ``t``."""
    wait_until(lambda: last_scrape_of_all(stack), "every target scraped once", until=lambda s: s > t, timeout=60)
    again = time.time()
    wait_until(lambda: last_scrape_of_all(stack), "every target scraped twice", until=lambda s: s > again, timeout=60)


def test_every_metric_the_dashboards_and_rules_use_is_exported(monitored: Stack) -> None:
    s = monitored.s
    pipeline = Pipeline(monitored)
    urls = [f"http://127.0.0.1:{pipeline.ports[name]}/metrics" for name in pipeline.wanted()]
    urls += [
        f"http://127.0.0.1:{s.connect_metrics_port}/metrics",
        f"http://127.0.0.1:{s.orderer_ops_port}/metrics",
        f"http://127.0.0.1:{s.peer_ops_port}/metrics",
    ]
    names: set[str] = set()
    for url in urls:
        names |= exported(url)
    used = {n for q in all_queries() for n in metric_names(q.expr)}
    assert len(used) > 20
    missing = sorted(used - names - SYNTHETIC)
    assert not missing, f"queried but exported by no worker, Connect or Fabric node: {missing}"


def test_prometheus_scrapes_everything_with_the_rules_loaded(monitored: Stack) -> None:
    def target_health() -> dict[tuple[str, str], str]:
        targets = prom(monitored, "/api/v1/targets")["activeTargets"]
        return {(t["labels"]["job"], t["labels"]["instance"]): t["health"] for t in targets}

    health = wait_until(
        target_health,
        "every target up",
        until=lambda h: bool(h) and all(v == "up" for v in h.values()),
        timeout=60,
        interval=1,
    )
    assert {i for j, i in health if j == "gx-workers"} == set(Pipeline(monitored).wanted())
    assert {(j, i) for j, i in health if j != "gx-workers"} == {
        ("gx-connect", "connect"),
        ("gx-fabric", "orderer"),
        ("gx-fabric", "peer"),
    }
    # Every rule is evaluated without error (a query Prometheus refuses would show as health "err").
    want = {q.title for q in all_queries() if q.source.endswith(".yml")}  # every alert of the rules file
    rules = wait_until(
        lambda: [r for g in prom(monitored, "/api/v1/rules")["groups"] for r in g["rules"]],
        "every rule loaded and evaluated",
        until=lambda rules: {r["name"] for r in rules} == want and all(r.get("health") in ("ok", "err") for r in rules),
        timeout=30,
        interval=1,
    )
    assert len(rules) == len(want) == 17, sorted(want)
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]
    # The breaker is closed and Postgres reachable: those alerts are not firing.
    firing = {a["labels"]["alertname"] for a in prom(monitored, "/api/v1/alerts")["alerts"] if a["state"] == "firing"}
    assert not firing & {"GxCircuitBreakerOpen", "GxWorkerDependencyDown", "GxWorkerDown", "GxConnectorTaskFailed"}


def test_report_draws_every_dashboard_with_data(monitored: Stack, tmp_path: Path) -> None:
    proc = gxctl("demo", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    scraped_twice_since(monitored, time.time())
    proc = gxctl("report", "--out", str(tmp_path), "--since", "10m", "--json", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = {d["dashboard"]: d for d in json.loads(proc.stdout)}
    assert set(summary) == {"gx-overview", "gx-cqrs-health", "gx-slo"}
    for d in summary.values():
        png = Path(d["file"]).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    overview = summary["gx-overview"]["panels"]
    # The demo's 25 commands went through: results by status, ledger height, consumer lag per group.
    assert overview["Commands finished by status"] >= 1
    assert overview["Ledger height and blocks published"] >= 3
    assert overview["Consumer lag by group"] >= 9
    assert summary["gx-cqrs-health"]["panels"]["Projection lag over time (ledger commit to read model)"] == 6
    assert summary["gx-slo"]["panels"]["Transaction success (target 99.9 %)"] == 1


def test_report_without_prometheus_is_one_clear_line(tmp_path: Path) -> None:
    proc = gxctl("report", "--out", str(tmp_path), "--prometheus", "http://127.0.0.1:9", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: prometheus at http://127.0.0.1:9:"), proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_status_shows_the_pipeline_on_one_screen(monitored: Stack) -> None:
    proc = gxctl("status", "--json", check=False)
    view = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not any(sec.get("error") for sec in view.values()), view
    rows = {r["component"]: r for r in view["components"]["rows"]}
    assert set(Pipeline().wanted()) <= set(rows) and all(r["healthy"] for r in rows.values())
    assert all(rows[w]["detail"] == "ready" for w in Pipeline().wanted())
    assert {r["state"] for r in view["connector"]["rows"]} == {"RUNNING"}
    assert [r["what"] for r in view["connector"]["rows"]] == ["connector", "task 0"]
    assert view["breaker"]["rows"] == [{"breaker": "fabric", "state": "closed"}]
    groups = {r["group"] for r in view["consumer_lag"]["rows"]}
    assert len(groups) == 9 and all(isinstance(r["lag"], int) for r in view["consumer_lag"]["rows"])
    # Committed offsets follow the records on topics written in transactions (gxcommon.faust_app
    # _exclusive_gaps): after the demo, at most the commit markers are behind, per partition.
    for r in view["consumer_lag"]["rows"]:
        assert r["lag"] <= 2 * r["partitions"], r
    assert {r["topic"] for r in view["dead_letters"]["rows"]} == {"gx.commands.dlq", "gx.projections.dlq"}
    assert len(view["projectors"]["rows"]) == 6
    text = gxctl("status", check=False).stdout
    for title in ("Components", "Outbox connector", "Consumer lag", "Circuit breaker", "Dead letters", "Projectors"):
        assert f"== {title}" in text
