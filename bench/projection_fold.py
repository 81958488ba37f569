"""Benchmark: ledger events folded into Postgres with checkpoints, batched vs one transaction per event.

    .venv/bin/python -m bench.projection_fold [--users 2000] [--transfers 60000] [--batches 1,500,2000,5000]

Needs the local stack's Postgres (`gxctl stack up`). Works in a database of its own (gx_bench,
created and migrated here), truncated before each run. The events are a synthetic but valid
ledger stream (bench/ledger_events.py), fed to projections.store.apply_batch exactly as the
projector does: one transaction per batch holding the read-model change and the checkpoint.
Batch size 1 is the baseline (the old projector's one transaction per event); it runs over the
first --baseline-events only, since it is slow. Prints a table and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import time

import psycopg

from bench.common import pct, save, table
from bench.ledger_events import ledger_stream
from gxcommon.dsn import pg_parts, pg_url
from projections.store import apply_batch
from schemas.migrate import migrate
from stack.manager import Stack


def bench_dsn(dsn: str) -> str:
    p = pg_parts(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'gx_bench'").fetchone():
            conn.execute("CREATE DATABASE gx_bench")
    out = pg_url(str(p["user"]), str(p["password"]), str(p["host"]), int(p["port"]), "gx_bench")
    migrate(out)
    return out


def run(dsn: str, records: list, batch: int) -> dict:
    with psycopg.connect(dsn) as conn:
        conn.execute('TRUNCATE "Wallet", "TransactionHistory", "ProjectorState"')
        conn.commit()
        lat = []
        t0 = time.perf_counter()
        for i in range(0, len(records), batch):
            b0 = time.perf_counter()
            res = apply_batch(conn, "ledger-bench", "gxchannel", records[i:i + batch])
            lat.append((time.perf_counter() - b0) * 1000)
            assert not res.dead
        elapsed = time.perf_counter() - t0
        n_hist = conn.execute('SELECT count(*) FROM "TransactionHistory"').fetchone()[0]
    return {"batch": batch, "events": len(records), "seconds": round(elapsed, 2),
            "events_per_s": round(len(records) / elapsed), "batch_p50_ms": pct(lat, 50), "batch_p99_ms": pct(lat, 99),
            "history_rows": n_hist}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--transfers", type=int, default=60000)
    ap.add_argument("--batches", default="1,500,2000,5000")
    ap.add_argument("--baseline-events", type=int, default=4000)
    args = ap.parse_args()
    dsn = bench_dsn(Stack().env()["GX_PG_DSN"])
    records = ledger_stream("B", args.users, args.transfers)
    # Kafka hands a projector records partition by partition; keep each partition's order.
    records.sort(key=lambda r: (r.partition, r.offset))
    rows = []
    for batch in (int(b) for b in args.batches.split(",")):
        subset = records[:args.baseline_events] if batch == 1 else records
        row = run(dsn, subset, batch)
        rows.append(row)
        print(f"  batch {batch:>5}: {row['events_per_s']:>7} events/s over {row['events']} events", flush=True)
    path = save("projection_fold", {"settings": vars(args), "rows": rows})
    print()
    print(table(rows, ["batch", "events", "seconds", "events_per_s", "batch_p50_ms", "batch_p99_ms"]))
    print(f"\nJSON: {path}")


if __name__ == "__main__":
    main()
