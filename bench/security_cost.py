"""Benchmark: what the secure stack costs, both modes in one run, side by side.

    .venv/bin/python -m bench.security_cost [--rates 100,150,200] [--duration 60] [--rounds 1]

For each round, plain then secure (the order alternates between rounds, so neither always runs
on a warmer machine): a fresh local stack of that mode in a state directory of its own
(``<cache>/bench-plain``, ``<cache>/bench-secure``) on the stack's default ports, `gxctl up`, then
:mod:`bench.e2e` at each rate (``--find-max``: it stops at the first rate not sustained), and the
stack purged. The secure mode is `gxctl stack up --secure`: Kafka with SCRAM-SHA-512 over TLS and
ACLs, a Postgres role per job, the peer on mutual TLS, Connect's REST API behind basic auth.

Reports per mode and rate: throughput (finals per second in the window), sustained or not,
insert-to-CONFIRMED p50/p99, projection lag p50/p99, CPU milliseconds per command of every process
and of Kafka alone; and the highest sustained rate per mode. JSON to bench/results/, a table to stdout.

Needs the stack's default ports free (stop your own `gxctl up` first); takes about
(4 min + rates x (duration + 40 s)) per mode and round.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import positive, positive_list, save, table

GXCTL = [sys.executable, "-m", "gxctl.main"]
COLUMNS = [
    "mode",
    "round",
    "offered_per_s",
    "final_per_s_in_window",
    "sustained",
    "total_p50_ms",
    "total_p99_ms",
    "projection_lag_p50_ms",
    "projection_lag_p99_ms",
    "cpu_ms_per_command",
    "kafka_cpu_ms_per_command",
    "connect_cpu_ms_per_command",
    "workers_cpu_ms_per_command",
]
# Every worker either mode may run (plain: the groups in one `projectors`; secure: one per group).
WORKERS = (
    "submitter",
    "results-writer",
    "block-publisher",
    "projectors",
    "projector-identity",
    "projector-ledger",
    "projector-organizations",
    "projector-governance",
    "projector-loans",
    "projector-system",
)


def _run(argv: list[str], env: dict[str, str], timeout: float) -> str:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(
            f"`{' '.join(argv[2:])}` failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )
    return proc.stdout


def one_mode(mode: str, rates: list[float], duration: float, pairs: int) -> dict[str, Any]:
    """A fresh stack of ``mode``, the pipeline, bench.e2e at ``rates``; the stack purged after."""
    from stack.settings import StackSettings

    state = StackSettings().cache_dir / f"bench-{mode}"
    base = {k: v for k, v in os.environ.items() if not k.startswith("GX_")} | {"GX_STATE_DIR": str(state)}
    subprocess.run([*GXCTL, "down", "--purge"], env=base, capture_output=True, timeout=300)
    try:
        t0 = time.monotonic()
        _run([*GXCTL, "stack", "up", *(["--secure"] if mode == "secure" else [])], base, 1800)
        _run([*GXCTL, "up"], base, 900)
        env = base | json.loads(_run([*GXCTL, "stack", "env", "--json"], base, 60))
        print(f"{mode}: stack and pipeline up in {time.monotonic() - t0:.0f}s; measuring", flush=True)
        out = _run(
            [
                sys.executable,
                "-m",
                "bench.e2e",
                "--find-max",
                ",".join(f"{r:g}" for r in rates),
                "--duration",
                str(duration),
                "--pairs",
                str(pairs),
                "--ceiling-seconds",
                "0",
            ],
            env,
            600 + len(rates) * (duration + 300),
        )
        path = Path(next(line for line in out.splitlines() if line.startswith("results: ")).split()[1])
        return json.loads(path.read_text()) | {"e2e_result": str(path)}
    finally:
        subprocess.run([*GXCTL, "down", "--purge"], env=base, capture_output=True, timeout=300)


def rows_of(mode: str, rnd: int, e2e: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for r in e2e["runs"]:
        cpu = r["cpu_ms_per_command"]
        out.append(
            {
                "mode": mode,
                "round": rnd,
                **{k: r.get(k) for k in COLUMNS if k in r},
                "cpu_ms_per_command": round(sum(cpu.values()), 2),
                "kafka_cpu_ms_per_command": cpu.get("kafka"),
                "connect_cpu_ms_per_command": cpu.get("connect"),
                "workers_cpu_ms_per_command": round(sum(cpu.get(w, 0) for w in WORKERS), 2),
                "cpu_ms_by_process": cpu,
            }
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--rates",
        type=positive_list(),
        default=[100.0, 150.0, 200.0],
        help="rates tried in order per mode (stops when not sustained)",
    )
    ap.add_argument("--duration", type=positive(), default=60, help="seconds of measured load per rate")
    ap.add_argument(
        "--rounds", type=positive(int), default=1, help="plain and secure once each per round, order alternating"
    )
    ap.add_argument("--pairs", type=positive(int), default=500, help="funded wallet pairs for the transfers")
    a = ap.parse_args()
    rates = a.rates
    rows: list[dict[str, Any]] = []
    results: list[str] = []
    for rnd in range(a.rounds):
        for mode in ("plain", "secure") if rnd % 2 == 0 else ("secure", "plain"):
            e2e = one_mode(mode, rates, a.duration, a.pairs)
            results.append(e2e["e2e_result"])
            rows += rows_of(mode, rnd, e2e)
    best = {
        m: max((r["final_per_s_in_window"] for r in rows if r["mode"] == m and r["sustained"]), default=0.0)
        for m in ("plain", "secure")
    }
    common = [
        rate for rate in rates if all(any(r["mode"] == m and r["offered_per_s"] == rate for r in rows) for m in best)
    ]

    def mean(mode: str, key: str, rate: float) -> float | None:
        vals = [r[key] for r in rows if r["mode"] == mode and r["offered_per_s"] == rate and r[key] is not None]
        return round(sum(vals) / len(vals), 2) if vals else None

    compare = [
        {
            "offered_per_s": rate,
            **{
                f"{k}_{m}": mean(m, k, rate)
                for k in (
                    "cpu_ms_per_command",
                    "kafka_cpu_ms_per_command",
                    "final_per_s_in_window",
                    "total_p50_ms",
                    "projection_lag_p99_ms",
                )
                for m in best
            },
        }
        for rate in common
    ]
    path = save(
        "security-cost",
        {
            "rates": rates,
            "duration_s": a.duration,
            "rounds": a.rounds,
            "rows": rows,
            "best_sustained_per_s": best,
            "compare": compare,
            "e2e_results": results,
        },
    )
    print(table(rows, COLUMNS))
    print(table(compare, list(compare[0]) if compare else ["offered_per_s"]))
    print(f"highest sustained rate: plain {best['plain']}/s, secure {best['secure']}/s")
    print(f"results: {path}")


if __name__ == "__main__":
    main()
