"""Benchmark: ledger events folded into Postgres with checkpoints, against the write-only limit and
the one-transaction-per-event baseline, all in the same run.

    .venv/bin/python -m bench.projection_fold [--users 2000] [--transfers 100000] [--batch 2000]

Needs the local stack's Postgres (`gxctl stack up`). Works in a database of its own (gx_bench,
created and migrated here), truncated before each mode. The events are a valid synthetic ledger
stream (bench/ledger_events.py) in the order Kafka hands them to one projector (partition by
partition). Modes:

- ``baseline``: one transaction per event (the old projector), over the first --baseline-events;
- ``batched``: projections.runner as the worker runs it, prepare then commit, one after the other;
- ``pipelined``: the worker's real shape (projections.agent): batch N is sent to the server in
  pipeline mode and batch N+1 is parsed and folded while the server writes it;
- ``write-only limit``: the same rows (history rows and summed wallet deltas, computed before the
  clock starts: no parsing, no folding), per batch COPY into staging tables and one merge each,
  plus the checkpoint update: what the database alone can take.

Each mode ends with the same balances (checked). Prints a table and writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from typing import Any

import psycopg

from bench.common import pct, positive, save, table
from bench.ledger_events import ledger_stream
from gxcommon.dsn import with_dbname
from projections import ledger
from projections.model import Event, Record
from projections.prepare import prepare
from projections.runner import Projector
from schemas.events import parse_event
from schemas.migrate import migrate
from stack.manager import Stack

TABLES = '"Wallet", "TransactionHistory", "ProjectorState"'


def bench_dsn(dsn: str) -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'gx_bench'").fetchone():
            conn.execute("CREATE DATABASE gx_bench")
    out = with_dbname(dsn, "gx_bench")
    migrate(out)
    return out


def reset(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(f"TRUNCATE {TABLES}")


def balances(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return {w: int(b) for w, b in conn.execute('SELECT "walletId", balance FROM "Wallet"').fetchall()}


def projector(dsn: str, name: str) -> Projector:
    return Projector(
        ledger.GROUP,
        name,
        "gxchannel",
        "gx.fabric.events",
        lambda: psycopg.connect(dsn),
        lambda *a: [],
        lambda dead: None,
    )


def run_sequential(dsn: str, records: list[Record], batch: int) -> list[float]:
    p = projector(dsn, f"bench-{batch}")
    lat = []
    for i in range(0, len(records), batch):
        b0 = time.perf_counter()
        p.apply(records[i : i + batch])
        lat.append((time.perf_counter() - b0) * 1000)
    p.close()
    return lat


def run_pipelined(dsn: str, records: list[Record], batch: int) -> list[float]:
    p = projector(dsn, "bench-pipelined")
    lat: list[float] = []
    marks = [time.perf_counter()]

    def done(_: Any) -> None:
        marks.append(time.perf_counter())
        lat.append((marks[-1] - marks[-2]) * 1000)

    p.apply_all((records[i : i + batch] for i in range(0, len(records), batch)), done)
    p.close()
    return lat


def limit_rows(records: list[Record], batch: int) -> list[tuple[list[tuple], list[tuple[str, int]], dict[int, int]]]:
    """Per batch: history rows, summed wallet deltas and checkpoint offsets (made before timing)."""
    out = []
    for i in range(0, len(records), batch):
        b = prepare(ledger.GROUP, records[i : i + batch], {})
        hist = []
        deltas: dict[str, int] = defaultdict(int)
        for r in records[i : i + batch]:
            env, payload = parse_event(r.value)
            for s in ledger.fold([Event(r, env, payload)]):
                for row in zip(*s.params) if s.sql == ledger.MOVE else ():
                    hist.append(tuple(row))
                    if row[5] is not None:
                        deltas[row[5]] -= row[7]
                    deltas[row[6]] += row[7]
        out.append((hist, list(deltas.items()), b.last_offset))
    return out


def run_limit(dsn: str, batches: list[tuple[list[tuple], list[tuple[str, int]], dict[int, int]]]) -> list[float]:
    lat = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute('CREATE TEMP TABLE sh (LIKE "TransactionHistory") ON COMMIT DELETE ROWS')
        conn.execute("CREATE TEMP TABLE sw (w text, d numeric) ON COMMIT DELETE ROWS")
        for hist, deltas, offsets in batches:
            b0 = time.perf_counter()
            with conn.transaction():
                with conn.cursor().copy(
                    'COPY sh (id, "txId", "blockNumber", "txIndex", kind, "fromWalletId",'
                    ' "toWalletId", amount, "requestId", "committedAt") FROM STDIN'
                ) as cp:
                    for row in hist:
                        cp.write_row(row)
                with conn.cursor().copy("COPY sw (w, d) FROM STDIN") as cp:
                    for row in deltas:
                        cp.write_row(row)
                conn.execute('INSERT INTO "TransactionHistory" SELECT * FROM sh ON CONFLICT (id) DO NOTHING')
                conn.execute(
                    'INSERT INTO "Wallet" AS t ("walletId", "ownerId", balance, "updatedAt")'
                    ' SELECT w, w, d, now() FROM sw ON CONFLICT ("walletId") DO UPDATE'
                    " SET balance = t.balance + EXCLUDED.balance"
                )
                conn.execute(
                    'INSERT INTO "ProjectorState" ("projectorName", channel, topic, "partition", "offset",'
                    " \"lastBlock\", \"lastEventIndex\") SELECT 'limit', 'gxchannel', 't', p, o, 0, 0"
                    ' FROM unnest(%s::int[], %s::bigint[]) AS x(p, o) ON CONFLICT ("tenantId",'
                    ' "projectorName", channel, topic, "partition") DO UPDATE SET "offset" = EXCLUDED."offset"',
                    (list(offsets), list(offsets.values())),
                )
            lat.append((time.perf_counter() - b0) * 1000)
    return lat


def measure(name: str, dsn: str, events: int, fn: Any) -> dict[str, Any]:
    reset(dsn)
    t0 = time.perf_counter()
    lat = fn()
    elapsed = time.perf_counter() - t0
    return {
        "mode": name,
        "events": events,
        "seconds": round(elapsed, 2),
        "events_per_s": round(events / elapsed),
        "batch_p50_ms": pct(lat, 50),
        "batch_p99_ms": pct(lat, 99),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=positive(int), default=2000)
    ap.add_argument("--transfers", type=positive(int), default=100000)
    ap.add_argument("--batch", type=positive(int), default=2000)
    ap.add_argument("--baseline-events", type=positive(int), default=3000)
    args = ap.parse_args()
    dsn = bench_dsn(Stack().env()["GX_PG_DSN"])
    records, want = ledger_stream("B", args.users, args.transfers)
    records.sort(key=lambda r: (r.partition, r.offset))  # as Kafka hands them to one consumer
    n = len(records)
    limit_input = limit_rows(records, args.batch)
    rows = []
    base = records[: args.baseline_events]
    rows.append(measure("baseline (1 event/tx)", dsn, len(base), lambda: run_sequential(dsn, base, 1)))
    print(f"  {rows[-1]['mode']}: {rows[-1]['events_per_s']} events/s", flush=True)
    for name, fn in (
        ("write-only limit", lambda: run_limit(dsn, limit_input)),
        ("batched", lambda: run_sequential(dsn, records, args.batch)),
        ("pipelined", lambda: run_pipelined(dsn, records, args.batch)),
    ):
        rows.append(measure(name, dsn, n, fn))
        got = balances(dsn)
        assert got == want, f"{name}: balances differ from the stream's ({len(got)} vs {len(want)} wallets)"
        print(f"  {name}: {rows[-1]['events_per_s']} events/s (balances checked)", flush=True)
    by = {r["mode"]: r["events_per_s"] for r in rows}
    best = max(by["batched"], by["pipelined"])
    summary = {
        "events_per_s": best,
        "share_of_write_only_limit": round(best / by["write-only limit"], 2),
        "times_baseline": round(best / by["baseline (1 event/tx)"], 1),
        "goals": {"share_of_limit": 0.6, "times_baseline": 20, "events_per_s": 20000},
    }
    path = save("projection_fold", {"settings": vars(args), "rows": rows, "summary": summary})
    print()
    print(table(rows, ["mode", "events", "seconds", "events_per_s", "batch_p50_ms", "batch_p99_ms"]))
    print(
        f"\nbest {best} events/s = {summary['share_of_write_only_limit']:.0%} of the write-only limit, "
        f"{summary['times_baseline']}x the baseline\nJSON: {path}"
    )


if __name__ == "__main__":
    main()
