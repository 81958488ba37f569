"""Benchmark: the throughput levers of issue 23, each against its baseline in the same run.

    .venv/bin/python -m bench.levers [--rate 90] [--duration 60] [--rounds 2] [--variants base,poll50,...]

Needs `gxctl up`. Each variant sets the levers below, lets the stack settle, measures what every
process burns while no command flows (the fixed cost per second), then runs one window of
bench.e2e's load at ``rate`` (the same writers, observers and figures). Variants are interleaved
round by round (A B C D A B C D), so a drift of the machine spreads over all of them. At the end
the connector and the submitter are put back as the stack runs them by default.

Levers:
- ``poll``: Debezium's ``poll.interval.ms`` (the connector's config, PUT through Connect's REST API);
- ``progress``: the submitter's SUBMITTED progress results (GX_SUBMITTED_RESULTS; the submitter
  is restarted with it);
- ``together``: the six projection groups in one process (`projectors`) or one process each
  (`projector-GROUP`); the workers are swapped (same consumer groups, so each resumes where the
  other stopped);
- ``stream``: the submitter reads commit statuses from one filtered-block stream
  (GX_COMMIT_STREAM=true, the default) or asks a signed CommitStatus per transaction.
Prints a table (and JSON in bench/results/): pipeline CPU per command (Postgres, Kafka, Connect,
submitter, results writer), read side per command, idle CPU per second, insert to CONFIRMED
p50/p99, projection lag p99, whether the rate was sustained.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
from typing import Any

from bench.common import positive, save, table
from bench.e2e import PIPELINE, PROJECTORS, cpu_rate, pids, run_rate, window

FABRIC = ("peer", "orderer", "chaincode")

VARIANTS: dict[str, dict[str, Any]] = {
    # the settings before issue 23's cuts
    "base": {"poll": 5, "progress": True, "together": False, "stream": False},
    "poll50": {"poll": 50, "progress": True, "together": False, "stream": False},
    "no-progress": {"poll": 5, "progress": False, "together": False, "stream": False},
    # the projection groups one process each
    "split": {"poll": 50, "progress": False, "together": False, "stream": False},
    # a CommitStatus call per transaction
    "call": {"poll": 50, "progress": False, "together": True, "stream": False},
    "stream": {"poll": 50, "progress": False, "together": True, "stream": True},
}
DEFAULT = VARIANTS["stream"]


def set_poll(connect_url: str, ms: int) -> None:
    """PUT the connector's config with ``poll.interval.ms`` = ``ms`` (Connect restarts its task)."""
    from gxcommon.http_auth import request

    url = f"{connect_url.rstrip('/')}/connectors/gx-outbox/config"
    with urllib.request.urlopen(request(url), timeout=30) as r:
        config = json.load(r)
    if config.get("poll.interval.ms") == str(ms):
        return
    config["poll.interval.ms"] = str(ms)
    put = request(url, "PUT", json.dumps(config).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(put, timeout=60) as r:
        r.read()


def worker_env(v: dict[str, Any]) -> dict[str, str]:
    """The workers' environment of variant ``v`` (beside the stack's)."""
    return {"GX_SUBMITTED_RESULTS": str(v["progress"]).lower(), "GX_COMMIT_STREAM": str(v["stream"]).lower()}


def restart(names: tuple[str, ...], v: dict[str, Any]) -> None:
    """Restart workers with variant ``v``'s environment (the watchdog leaves them alone meanwhile:
    the stack's lock is held and they stay desired; it would restart one with the stack's)."""
    from stack.pipeline import Pipeline

    p = Pipeline()
    env = p.stack.env() | worker_env(v)
    with p.stack.locked():
        for name in names:
            p.workers[name].stop(timeout=30)
            p._start_worker(name, env)


def set_together(v: dict[str, Any]) -> None:
    """Run the projection groups in one process or in one each (the watchdog follows: the stack's
    lock is held, and what is wanted is changed with the workers)."""
    from stack.pipeline import Pipeline
    from stack.runstate import Desired

    p = Pipeline()
    split = tuple(w for w in p.workers if w.startswith("projector-"))
    on, off = (("projectors",), split) if v["together"] else (split, ("projectors",))
    env = p.stack.env() | worker_env(v)
    with p.stack.locked():
        Desired.change(p.stack.s.run_dir, remove=set(off))
        for name in off:
            p.workers[name].stop(timeout=30)
        for name in on:
            p._start_worker(name, env)
        Desired.change(p.stack.s.run_dir, add=set(on))


def apply(v: dict[str, Any], current: dict[str, Any], connect: str) -> None:
    """Move the stack from variant ``current`` (empty: unknown) to ``v``, restarting only what differs."""
    if current.get("poll") != v["poll"]:
        set_poll(connect, v["poll"])
    if current.get("together") != v["together"]:
        set_together(v)
    if any(current.get(k) != v[k] for k in ("progress", "stream")):
        restart(("submitter",), v)


def idle_cpu(seconds: float) -> dict[str, float]:
    """CPU milliseconds per second of every process while nothing is offered."""
    return {k: round(v, 1) for k, v in cpu_rate(pids(), seconds).items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=positive(), default=90, help="commands per second offered (below saturation)")
    ap.add_argument("--duration", type=positive(), default=60, help="seconds of measured load per variant and round")
    ap.add_argument("--rounds", type=positive(int), default=2)
    ap.add_argument("--pairs", type=positive(int), default=1000)
    ap.add_argument("--variants", default="call,stream", help=f"comma-separated, of: {', '.join(VARIANTS)}")
    a = ap.parse_args()
    from stack.discover import use_local_stack

    use_local_stack()
    from bench.fabric_ceiling import fabric_settings_from
    from gxcommon.fabric_settings import FabricSettings
    from gxcommon.settings import connection_settings
    from stack.manager import Stack

    s = connection_settings()
    s.require("pg_dsn", "kafka_bootstrap", "connect_url")
    dsn, bootstrap, connect = s.dsn(), s.kafka_bootstrap or "", s.connect_endpoint() or ""
    names = [v for v in a.variants.split(",") if v]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"error: --variants: unknown {', '.join(unknown)}; known: {', '.join(VARIANTS)}")

    print(f"funding {a.pairs} wallet pairs per window (in the window's tenant)", flush=True)
    fabric = FabricSettings(**fabric_settings_from(Stack()))
    rows: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    try:
        tenant, pairs = window(fabric, a.pairs)
        run_rate(dsn, bootstrap, pairs, a.rate, 10, tenant=tenant)  # warm; not reported
        for rnd in range(a.rounds):
            for name in names:
                v = VARIANTS[name]
                apply(v, current, connect)
                current = dict(v)
                time.sleep(10)  # the connector's task restarted, the submitter joined its group
                tenant, pairs = window(fabric, a.pairs)
                idle = idle_cpu(15)
                print(f"round {rnd + 1}: {name} ({v}) at {a.rate:.0f}/s for {a.duration:.0f}s", flush=True)
                r = run_rate(dsn, bootstrap, pairs, a.rate, a.duration, tenant=tenant)
                rows.append(
                    {
                        "variant": name,
                        "round": rnd + 1,
                        **v,
                        "idle_cpu_ms_per_s": idle,
                        "pipeline_idle_ms_per_s": round(sum(idle[k] for k in PIPELINE), 1),
                        **{k: r[k] for k in r if k != "series"},
                    }
                )
    finally:
        apply(DEFAULT, current, connect)
    path = save("levers", {"rate": a.rate, "duration": a.duration, "variants": VARIANTS, "runs": rows})
    for r in rows:
        r["fabric_cpu_ms_per_command"] = round(sum(r["cpu_ms_per_command"].get(k, 0.0) for k in FABRIC), 3)
    columns = [
        "variant",
        "round",
        "final_per_s_in_window",
        "sustained",
        "lost",
        "pipeline_cpu_ms_per_command",
        "fabric_cpu_ms_per_command",
        "read_side_cpu_ms_per_command",
        "pipeline_idle_ms_per_s",
        "total_p50_ms",
        "total_p99_ms",
        "capture_p50_ms",
        "projection_lag_p99_ms",
        "peer_state_commit_s",
        "peer_state_commit_max_ms",
        "peer_state_commits_over_250ms",
    ]
    print(table(rows, columns))
    for r in rows:
        per = r["cpu_ms_per_command"]
        print(
            f"{r['variant']} round {r['round']}: "
            + ", ".join(f"{k} {per[k]}" for k in (*PIPELINE, *PROJECTORS) if k in per)
        )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
