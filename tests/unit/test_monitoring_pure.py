"""Pure parts of the monitoring code: the local Prometheus' scrape configuration, the status
screen's verdict and text, and the report's legends."""

from __future__ import annotations

from pathlib import Path

from monitoring.overview import healthy, render
from monitoring.report import legend
from stack.mode import marker
from stack.prometheus import scrape_config
from stack.settings import StackSettings
from stack.workers import WORKERS


def test_the_local_prometheus_scrapes_every_worker_connect_and_fabric(tmp_path: Path) -> None:
    s = StackSettings(
        state_dir=tmp_path,
        worker_port_base=40000,
        connect_metrics_port=40100,
        orderer_ops_port=40200,
        peer_ops_port=40201,
    )
    jobs_plain = scrape_config(s)["scrape_configs"]
    jobs = {j["job_name"]: j["static_configs"] for j in jobs_plain}
    assert {sc["labels"]["instance"]: sc["targets"] for sc in jobs["gx-workers"]} == {
        "results-writer": ["127.0.0.1:40000"],
        "submitter": ["127.0.0.1:40001"],
        "block-publisher": ["127.0.0.1:40002"],
        "projectors": ["127.0.0.1:40003"],
    }
    marker(s).parent.mkdir(parents=True)
    marker(s).write_text("secure")  # the secure mode: a worker per projection group, none for all
    secure_jobs = {j["job_name"]: j for j in scrape_config(s)["scrape_configs"]}
    secure = secure_jobs["gx-workers"]["static_configs"]
    # The secure mode's Fabric operations endpoints serve TLS and give /metrics to a client certificate.
    fabric = secure_jobs["gx-fabric"]
    assert fabric["scheme"] == "https" and fabric["tls_config"]["ca_file"].endswith("fabric/ops-ca-bundle.pem")
    assert fabric["tls_config"]["cert_file"].endswith("users/User2@org1.example.com/tls/client.crt")
    assert "scheme" not in {j["job_name"]: j for j in jobs_plain}["gx-fabric"]
    assert {sc["labels"]["instance"]: sc["targets"] for sc in secure} == {
        w: [f"127.0.0.1:{40000 + i}"] for i, w in enumerate(WORKERS) if w != "projectors"
    }
    assert jobs["gx-connect"] == [{"targets": ["127.0.0.1:40100"], "labels": {"instance": "connect"}}]
    assert [sc["targets"] for sc in jobs["gx-fabric"]] == [["127.0.0.1:40200"], ["127.0.0.1:40201"]]
    assert scrape_config(s)["rule_files"][0].endswith("monitoring/prometheus/rules/*.yml")


def view(**changes: object) -> dict:
    v = {
        "components": {
            "rows": [{"component": "submitter", "pid": 1, "healthy": True, "endpoint": "x", "detail": "ready"}]
        },
        "connector": {
            "rows": [{"name": "gx-outbox", "what": "connector", "state": "RUNNING", "worker": "w", "trace": ""}]
        },
        "consumer_lag": {"rows": [{"group": "g", "topic": "t", "partitions": 6, "lag": 3}]},
        "breaker": {"rows": [{"breaker": "fabric", "state": "closed"}]},
        "dead_letters": {"rows": [{"topic": "gx.commands.dlq", "records": 2}]},
        "projectors": {"rows": []},
    }
    v.update(changes)
    return v


def test_healthy_needs_every_part_well() -> None:
    assert healthy(view())
    assert not healthy(view(breaker={"rows": [{"breaker": "fabric", "state": "open"}]}))
    assert not healthy(
        view(connector={"rows": [{"name": "c", "what": "task 0", "state": "FAILED", "worker": "", "trace": "boom"}]})
    )
    assert not healthy(view(projectors={"rows": [], "error": "postgres: refused"}))


def test_render_shows_each_section_and_a_failing_one_in_one_line() -> None:
    text = render(view(projectors={"rows": [], "error": "postgres: connection refused"}))
    assert "== Circuit breaker\nbreaker    state\nfabric     closed" in text
    assert "== Projectors (checkpoints)\nerror: postgres: connection refused" in text
    assert "gx.commands.dlq  2" in text


def test_legend_follows_grafana_legend_format() -> None:
    assert legend("{{status}}", {"status": "CONFIRMED", "job": "x"}) == "CONFIRMED"
    assert legend("checkpoint {{ projector }}", {"projector": "ledger"}) == "checkpoint ledger"
    assert legend("", {"__name__": "up", "job": "gx", "instance": "a"}) == '{instance="a", job="gx"}'


def test_report_and_status_refuse_bad_options_naming_them(tmp_path: Path, monkeypatch) -> None:
    from click.testing import CliRunner

    from gxctl.main import cli

    # A connection setting given: gxctl must not fill this process's environment from a local stack.
    monkeypatch.setenv("GX_KAFKA_BOOTSTRAP", "127.0.0.1:1")

    for args, words in (
        (["report", "--out", str(tmp_path), "--since", "abc"], "'--since': 'abc' is not a duration"),
        (["report", "--out", str(tmp_path), "--since", "-5m"], "'--since': '-5m': the duration must be positive"),
        (["status", "--watch", "0"], "'--watch': 0.0 is not in the range"),
    ):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, result.output
        assert words in result.output
