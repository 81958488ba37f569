"""The monitoring files parse, and the PromQL scanner finds exactly the metric names."""

from __future__ import annotations

from monitoring.files import all_queries, dashboards, metric_names


def test_metric_names_skips_functions_keywords_labels_and_literals() -> None:
    expr = (
        'sum by (status) (rate(outbox_commands_processed_total{status!="CONFIRMED",x=~"a|b"}[5m])) '
        "/ on (job) group_left(instance) max_over_time(up[1h:30s]) > 1e3 "
        "and histogram_quantile(0.95, sum by (le) (rate(x_seconds_bucket[5m]))) unless vector(0) "
        "< bool 5000 or absent(dependency_up offset 5m)"
    )
    assert metric_names(expr) == {"outbox_commands_processed_total", "up", "x_seconds_bucket", "dependency_up"}


def test_every_panel_has_a_query_and_a_unit() -> None:
    ds = dashboards()
    assert {d["uid"] for d in ds} == {"gx-overview", "gx-cqrs-health", "gx-slo"}
    for d in ds:
        for p in d["panels"]:
            assert p["targets"] and all(t["expr"].strip() for t in p["targets"]), (d["uid"], p["title"])
            assert p["fieldConfig"]["defaults"].get("unit"), (d["uid"], p["title"])
    # The CQRS health panels the issue names.
    titles = " | ".join(p["title"] for d in ds if d["uid"] == "gx-cqrs-health" for p in d["panels"])
    for word in ("Status distribution", "Retry histogram", "Circuit breaker", "Projection lag", "Throughput"):
        assert word in titles


def test_every_alert_of_the_domain_is_a_rule() -> None:
    alerts = {q.title for q in all_queries() if q.source.endswith(".yml")}
    assert {
        "GxProjectionLagHigh",
        "GxCircuitBreakerOpen",
        "GxCommandFailureRateHigh",
        "GxProcessingRateLow",
        "GxReplicationSlotWalRetained",
        "GxConnectorTaskFailed",
        "GxConsumerLagGrowing",
        "GxDeadLettersGrowing",
        "GxChaincodeRefusing",
        "GxLedgerEventUnpublished",
        "GxPublisherChainBroken",
        "GxFailedCommandsCommittedLater",
        "GxFailedStatusUnproven",
        "GxStatusCorrectionGivenUp",
    } <= alerts
