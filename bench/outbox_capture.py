"""Benchmark: commit-to-Kafka latency of outbox inserts, Debezium vs the old 100 ms poller.

    .venv/bin/python -m bench.outbox_capture [--rates 100,1000,3000] [--seconds 20] [--writers 4]

Needs the local stack (`gxctl stack up`); applies migrations, topics and the connector itself.
For each offered rate, the same writer load (several processes, one autocommit INSERT through the
SDK per command) runs twice, one design after the other:
- debezium: latency = time a consumer of gx.commands receives the record - time just after COMMIT;
- poller (baseline, the old worker's pick-up): every 100 ms, lock PENDING rows of this run with
  FOR UPDATE SKIP LOCKED and mark them LOCKED; latency = time the poll returns the row - COMMIT.
Lag growth compares the p50 of the last third of the run with the first third. CPU is read from
/proc for Kafka Connect's JVM and for Postgres (postmaster and backends), as % of one core.
Prints a table and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from bench.common import CpuMeter, message_headers, pct, positive, positive_list, save, table
from connectors.deploy import PasswordSource, deploy_outbox
from connectors.render import outbox
from gxcommon import topics
from gxcommon.dsn import secret_parts
from gxcommon.kafka import Consumer
from gxcommon.settings import ConnectionSettings
from gxsdk import enqueue
from schemas.examples import example
from schemas.migrate import migrate
from schemas.permissions import service_of
from stack.manager import Stack


def writer(dsn: str, tenant: str, rate: float, seconds: float, start_at: float, w: int, out: mp.Queue[Any]) -> None:
    commits: list[tuple[str, float]] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.time() < start_at:
            time.sleep(0.001)
        n = int(rate * seconds)
        for i in range(n):
            due = start_at + i / rate
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            res = enqueue(
                conn,
                tenant_id=tenant,
                service=service_of("TRANSFER_TOKENS"),
                command_type="TRANSFER_TOKENS",
                request_id=f"{w}-{i}",
                payload=example("TRANSFER_TOKENS", f"{w}-{i % 50}"),
            )
            commits.append((res.id, time.time()))
    out.put(commits)


def run_writers(dsn: str, tenant: str, rate: float, seconds: float, n_writers: int) -> tuple[dict[str, float], float]:
    q: mp.Queue[Any] = mp.Queue()
    start_at = time.time() + 1.0
    procs = [
        mp.Process(target=writer, args=(dsn, tenant, rate / n_writers, seconds, start_at, w, q))
        for w in range(n_writers)
    ]
    for p in procs:
        p.start()
    commits: dict[str, float] = {}
    for _ in procs:
        commits.update(dict(q.get()))
    for p in procs:
        p.join()
    last = max(commits.values()) if commits else start_at
    return commits, len(commits) / max(1e-9, last - start_at)


def debezium_arrivals(bootstrap: str, tenant: str, stop: threading.Event, arrivals: dict[str, float]) -> None:
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4()}",
            "auto.offset.reset": "latest",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 10,
        }
    )
    c.subscribe(["gx.commands"])
    try:
        while not stop.is_set():
            # poll() returns as soon as a record is there; consume(n, t) would wait to fill its batch.
            m = c.poll(0.05)
            if m is None or m.error():
                continue
            now = time.time()
            h = message_headers(m)
            if h.get("tenantId") == tenant:
                arrivals[h["id"]] = now
    finally:
        c.close()


def poller_arrivals(dsn: str, tenant: str, stop: threading.Event, arrivals: dict[str, float]) -> None:
    q = (
        'UPDATE "OutboxCommand" SET status = \'LOCKED\', "lockedBy" = \'bench-poller\', "lockedAt" = now() '
        'WHERE id IN (SELECT id FROM "OutboxCommand" WHERE status = \'PENDING\' AND "tenantId" = %s '
        'ORDER BY "createdAt" LIMIT 2000 FOR UPDATE SKIP LOCKED) RETURNING id'
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not stop.is_set():
            t0 = time.monotonic()
            rows = conn.execute(q, (tenant,)).fetchall()
            now = time.time()
            for (i,) in rows:
                arrivals[i] = now
            time.sleep(max(0.0, 0.1 - (time.monotonic() - t0)))


def measure(
    design: str, env: dict[str, str], rate: float, seconds: float, n_writers: int, cpu: CpuMeter
) -> dict[str, Any]:
    tenant = f"bench-{design}-{uuid.uuid4().hex[:8]}"
    stop = threading.Event()
    arrivals: dict[str, float] = {}
    target = (
        (debezium_arrivals, (env["GX_KAFKA_BOOTSTRAP"], tenant, stop, arrivals))
        if design == "debezium"
        else (poller_arrivals, (env["GX_PG_DSN"], tenant, stop, arrivals))
    )
    th = threading.Thread(target=target[0], args=target[1], daemon=True)
    th.start()
    time.sleep(3 if design == "debezium" else 0.2)  # consumer assignment
    cpu.start()
    commits, achieved = run_writers(env["GX_PG_DSN"], tenant, rate, seconds, n_writers)
    drain_end = time.time() + 30
    while time.time() < drain_end and len(set(commits) & set(arrivals)) < len(commits):
        time.sleep(0.1)
    usage = cpu.stop()
    stop.set()
    th.join(10)
    ordered = sorted(commits.items(), key=lambda kv: kv[1])
    lat = [(arrivals[i] - t) * 1000 for i, t in ordered if i in arrivals]
    third = max(1, len(lat) // 3)
    connect_cpu_s = usage.get("_connect_cpu_s", 0.0)
    return {
        "design": design,
        "offered_per_s": rate,
        "achieved_per_s": round(achieved, 1),
        "rows": len(commits),
        "delivered": len(lat),
        "missing": len(commits) - len(lat),
        "p50_ms": pct(lat, 50),
        "p95_ms": pct(lat, 95),
        "p99_ms": pct(lat, 99),
        "max_ms": max(lat) if lat else None,
        "lag_growth_ms": (pct(lat[-third:], 50) or 0) - (pct(lat[:third], 50) or 0),
        "connect_cpu_pct": usage.get("connect"),
        "postgres_cpu_pct": usage.get("postgres"),
        "kafka_cpu_pct": usage.get("kafka"),
        "connect_cpu_ms_per_row": round(1000 * connect_cpu_s / max(1, len(commits)), 3)
        if design == "debezium"
        else None,
    }


def prepare(env: dict[str, str]) -> None:
    migrate(env["GX_PG_DSN"])
    topics.apply(env["GX_KAFKA_BOOTSTRAP"], topics.specs(topics.TopicSettings()))
    deploy_outbox(
        env["GX_PG_DSN"],
        secret_parts(env["GX_PG_DSN"]),
        env["GX_CONNECT_URL"],
        topics.TopicSettings().commands,
        PasswordSource(secrets_dir=Path(env["GX_CONNECT_SECRETS_DIR"])),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", type=positive_list(), default=[100.0, 1000.0, 3000.0])
    ap.add_argument("--seconds", type=positive(), default=20)
    ap.add_argument("--writers", type=positive(int), default=4)
    args = ap.parse_args()
    st = Stack()
    env = st.env()
    s = ConnectionSettings()
    if s.pg_dsn is not None:
        env["GX_PG_DSN"] = s.pg_dsn.get_secret_value()
    prepare(env)
    pids = {n: st.components[n].proc.pid() for n in ("connect", "postgres", "kafka")}
    cpu = CpuMeter({n: p for n, p in pids.items() if p}, trees=("postgres",))
    rows = []
    for rate in args.rates:
        for design in ("debezium", "poller"):
            row = measure(design, env, rate, args.seconds, args.writers, cpu)
            rows.append(row)
            print(
                f"  {design:8} {rate:>6.0f}/s  p50 {row['p50_ms']} ms  p99 {row['p99_ms']} ms  "
                f"missing {row['missing']}",
                flush=True,
            )
    connector = outbox(dict.fromkeys(("host", "port", "user", "password", "dbname"), "x"), "x")["config"]
    result = {
        "settings": {
            "seconds": args.seconds,
            "writers": args.writers,
            "poll.interval.ms": connector["poll.interval.ms"],
            "max.batch.size": connector["max.batch.size"],
            "producer.override.linger.ms": connector["producer.override.linger.ms"],
        },
        "rows": rows,
    }
    path = save("outbox_capture", result)
    print()
    print(
        table(
            rows,
            [
                "design",
                "offered_per_s",
                "achieved_per_s",
                "delivered",
                "missing",
                "p50_ms",
                "p95_ms",
                "p99_ms",
                "max_ms",
                "lag_growth_ms",
                "connect_cpu_pct",
                "postgres_cpu_pct",
                "connect_cpu_ms_per_row",
            ],
        )
    )
    print(f"\nJSON: {path}")


if __name__ == "__main__":
    main()
