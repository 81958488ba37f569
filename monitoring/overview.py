"""`gxctl status`: the whole pipeline on one screen.

``collect`` asks each source once (the local stack's processes and each worker's /readyz, Connect's
REST API, Kafka's committed group offsets and watermarks, the submitter's breaker gauge, the
projectors' checkpoints); a source that fails gives its section an ``error`` and the rest still
shows. ``render`` is pure: the collected dict to text. ``healthy`` decides the exit status.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from connectors import connect_api
from gxcommon.health import ProbeError
from gxcommon.kafka import AdminClient, Consumer
from gxcommon.tables import rows_table

BREAKER = {0: "closed", 1: "open", 2: "half-open"}


def section(fn: Callable[[], Any], describe: Callable[[BaseException], str]) -> dict[str, Any]:
    """``{"rows": fn()}``, or no rows and ``error``: ``describe``'s one line for what ``fn`` raised."""
    try:
        return {"rows": fn()}
    except Exception as e:  # each section reports its own failure; the screen still renders
        return {"rows": [], "error": describe(e)}


def _get(url: str, timeout: float = 2) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def components(pipeline: Any) -> list[dict[str, Any]]:
    """The local stack's components and workers; a worker's readiness reason when not ready."""
    rows = []
    for r in pipeline.status():
        row = {
            "component": r["component"],
            "pid": r["pid"],
            "healthy": r["healthy"],
            "endpoint": r["endpoint"],
            "restarts": r.get("restarts", 0),
            "detail": "",
        }
        if r["component"] in pipeline.ports and r["pid"]:
            try:
                code, body = _get(f"{r['endpoint']}/readyz")
                row["detail"] = "ready" if code == 200 else json.loads(body).get("reason", body)
            except (OSError, ValueError) as e:
                row["detail"] = f"/readyz: {e}"
        elif not r["pid"] and not r.get("external"):
            row["detail"] = "not running"
        elif r.get("height") is not None:  # a node of the HA network (stack.fabric_ha.node_state)
            row["detail"] = f"height {r['height']}" + (", Raft leader" if r.get("raft_leader") else "")
        rows.append(row)
    return rows


def connector(url: str, name: str) -> list[dict[str, Any]]:
    doc = connect_api.status(url, name)
    if doc is None:
        return [{"name": name, "what": "connector", "state": "ABSENT", "worker": "", "trace": ""}]
    rows = [
        {
            "name": name,
            "what": "connector",
            "state": doc["connector"]["state"],
            "worker": doc["connector"].get("worker_id", ""),
            "trace": "",
        }
    ]
    for t in doc.get("tasks", []):
        trace = (t.get("trace") or "").strip().splitlines()
        rows.append(
            {
                "name": name,
                "what": f"task {t['id']}",
                "state": t["state"],
                "worker": t.get("worker_id", ""),
                "trace": trace[0] if trace else "",
            }
        )
    return rows


def consumer_lag(bootstrap: str, groups: list[str]) -> list[dict[str, Any]]:
    """Per group and topic: committed offsets against the log end (a transaction's commit marker
    counts as one record)."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

    admin = AdminClient({"bootstrap.servers": bootstrap})
    # One group per request (librdkafka's limit); the requests run concurrently.
    futures = {g: admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(g)])[g] for g in groups}
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "gxctl-status", "enable.auto.commit": False})
    rows = []
    try:
        for group in groups:
            committed = futures[group].result(10).topic_partitions or []
            by_topic: dict[str, list[int]] = {}
            for tp in committed:
                if tp.offset < 0:
                    continue
                high = c.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=10)[1]
                by_topic.setdefault(tp.topic, []).append(max(0, high - tp.offset))
            if not by_topic:
                rows.append({"group": group, "topic": "-", "partitions": 0, "lag": None})
            for topic, lags in sorted(by_topic.items()):
                rows.append({"group": group, "topic": topic, "partitions": len(lags), "lag": sum(lags)})
    finally:
        c.close()
    return rows


def dead_letters(bootstrap: str, topics: list[str]) -> list[dict[str, Any]]:
    """Records kept on each dead-letter topic (log end minus log start, all partitions)."""
    from confluent_kafka import TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "gxctl-status", "enable.auto.commit": False})
    rows: list[dict[str, Any]] = []
    try:
        md = c.list_topics(timeout=10)
        for topic in topics:
            if topic not in md.topics:
                rows.append({"topic": topic, "records": None})
                continue
            total = 0
            for p in md.topics[topic].partitions:
                low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                total += max(0, high - low)
            rows.append({"topic": topic, "records": total})
    finally:
        c.close()
    return rows


def breaker(submitter_url: str) -> list[dict[str, Any]]:
    from prometheus_client.parser import text_string_to_metric_families

    try:
        _code, text = _get(f"{submitter_url}/metrics")
    except OSError as e:
        reason = getattr(e, "reason", e)
        raise ProbeError(
            "submitter",
            f"the submitter at {submitter_url} does not answer ({getattr(reason, 'strerror', None) or reason})",
        ) from None
    rows = []
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "circuit_breaker_state":
                rows.append({"breaker": s.labels.get("name", ""), "state": BREAKER.get(int(s.value), str(s.value))})
    return rows


def projectors(dsn: str, bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Per projector (projections.status.status): :func:`summarize`."""
    from projections.status import status

    return summarize(status(dsn, bootstrap, topic))


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per projector: its lag summed over every partition (``<=N`` when some partition is too far
    behind to count exactly), the newest block it reached, its largest lag in milliseconds, and its
    state: ``caught up``, or ``behind`` with why (events to apply, or a last block older than the
    newest any projector reached: a group stalled where its lag cannot be counted). Pure."""
    acc: dict[str, dict[str, Any]] = {}
    for r in rows:
        a = acc.setdefault(r["projector"], {"partitions": 0, "block": -1, "lag": 0, "bound": False, "ms": 0})
        a["partitions"] += 1
        a["block"] = max(a["block"], r["lastBlock"] if r["lastBlock"] is not None else -1)
        a["lag"] += int(str(r["lag_events"]).lstrip("<="))
        a["bound"] |= isinstance(r["lag_events"], str)
        a["ms"] = None if r["lag_ms"] is None or a["ms"] is None else max(a["ms"], r["lag_ms"])
    newest = max((a["block"] for a in acc.values()), default=-1)

    def state(a: dict[str, Any]) -> str:
        if a["lag"]:
            return f"behind: {'<=' if a['bound'] else ''}{a['lag']} events"
        if a["block"] < newest:
            return f"behind: block {a['block']} of {newest}" if a["block"] >= 0 else "behind: no checkpoint yet"
        return "caught up"

    return [
        {
            "projector": name,
            "partitions": a["partitions"],
            "lastBlock": a["block"],
            "lag_events": f"<={a['lag']}" if a["bound"] else a["lag"],
            "lag_ms": a["ms"],
            "state": state(a),
        }
        for name, a in acc.items()
    ]


def healthy(view: dict[str, Any]) -> bool:
    """Every component healthy, the connector and its tasks RUNNING, no breaker open, no section failed."""
    if any(sec.get("error") for sec in view.values()):
        return False
    if not all(r["healthy"] for r in view["components"]["rows"]):
        return False
    if any(r["state"] != "RUNNING" for r in view["connector"]["rows"]):
        return False
    return all(r["state"] == "closed" for r in view["breaker"]["rows"])


def render(view: dict[str, Any]) -> str:
    parts = []
    sections = [
        ("components", "Components", ["component", "pid", "healthy", "restarts", "endpoint", "detail"]),
        ("connector", "Outbox connector", ["name", "what", "state", "worker", "trace"]),
        (
            "consumer_lag",
            "Consumer lag (log end minus committed offset; a transaction commit marker counts as 1)",
            ["group", "topic", "partitions", "lag"],
        ),
        ("breaker", "Circuit breaker", ["breaker", "state"]),
        ("dead_letters", "Dead letters (records kept)", ["topic", "records"]),
        (
            "projectors",
            "Projectors (checkpoints)",
            ["projector", "state", "partitions", "lastBlock", "lag_events", "lag_ms"],
        ),
    ]
    for key, title, cols in sections:
        sec = view[key]
        parts.append(f"== {title}")
        if sec.get("error"):
            parts.append(f"error: {sec['error']}")
        elif not sec["rows"]:
            parts.append("(none)")
        else:
            parts.append(rows_table(sec["rows"], cols))
    return "\n".join(parts)
