"""Benchmark: the whole write path at a fixed rate, beside the direct-client ceiling in the same session.

    .venv/bin/python -m bench.e2e --rate 200 --duration 120 [--find-max 100,200,300] [--ceiling-seconds 20]

Needs `gxctl up` (the stack and every worker: the write path, the block publisher, the projectors). Each run:
1. warm-up: the demo story (all 25 command types, `gxctl demo`), then 10 s of load not measured;
2. the measured window: 4 writer processes insert commands through the outbox at ``rate``/s, one
   autocommit transaction each: TRANSFER_TOKENS between funded wallet pairs, and beside them the
   demo's stories (organisations, multisig, proposals, votes, loans, freezes, tax: 20 types) run
   stage by stage;
3. every command's stages from timestamps of one clock: commit (the writer, after COMMIT) ->
   capture (the record's Kafka timestamp on gx.commands) -> queue (the submitter's receivedAt) ->
   endorse + submit (submittedAt) -> order and commit (committedAt) -> write-back (the outbox row's
   updatedAt).
The read side too: when each confirmed transfer's history row shows in the read model (insert to
read model, and projection lag: ledger commit to read model, p50 and p99).
Reports throughput, insert-to-CONFIRMED p50/p95/p99, each stage's p50, failures, lost commands,
backlog growth, seconds without a final result, CPU milliseconds per command of every process,
and the ratio to the direct client's ceiling at 500 in flight (bench.fabric_ceiling), measured in
the same session before the first rate, while the pipeline is idle. A window in which this process
itself did not run for over a second (the machine paused) is measured again. Writes JSON
and a PNG (throughput, latency and backlog over time) to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import threading
import time
import uuid
from typing import Any

import psutil
import psycopg

from bench import peer_commits
from bench.common import message_headers, pct, positive, positive_list, save, table
from bench.fabric_ceiling import fabric_nodes, fabric_settings_from, funded_pairs, run_ceiling
from gxcommon.fabric_settings import FabricSettings
from gxcommon.kafka import Consumer
from gxcommon.worker_settings import WorkerSettings
from gxsdk import enqueue
from schemas.envelopes import parse_result
from schemas.permissions import service_of
from stack.demo import run_demo, stages
from stack.pipeline import Pipeline

# The read side: the block publisher and the projection groups, in one process (`projectors`, the
# default) or one per group (the secure mode, or bench.levers' split variant); whichever runs.
PROJECTORS = (
    "block-publisher",
    "projectors",
    "projector-identity",
    "projector-ledger",
    "projector-organizations",
    "projector-governance",
    "projector-loans",
    "projector-system",
)
# The Fabric processes beside these are the topology's (bench.fabric_ceiling.fabric_nodes).
WRITE_SIDE = ("postgres", "kafka", "connect", "submitter", "results-writer")
PROCS = WRITE_SIDE + PROJECTORS
PIPELINE = ("postgres", "kafka", "connect", "submitter", "results-writer")
FINAL = ("CONFIRMED", "FAILED", "REJECTED")


def writer(
    dsn: str, tenant: str, rate: float, seconds: float, start_at: float, pairs: list[tuple[str, str]], w: int, out: Any
) -> None:
    commits: list[tuple[str, float]] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        n = int(rate * seconds)
        for i in range(n):
            delay = start_at + i / rate - time.time()
            if delay > 0:
                time.sleep(delay)
            a, b = pairs[i % len(pairs)]
            rid = f"{tenant}-w{w}-{i}"
            enqueue(
                conn,
                tenant_id=tenant,
                service=service_of("TRANSFER_TOKENS"),
                command_type="TRANSFER_TOKENS",
                request_id=rid,
                payload={"fromWalletId": a, "toWalletId": b, "amount": 1},
            )
            commits.append((rid, time.time()))
    out.put(commits)


class Stalls:
    """Seconds in which this very process did not run: a thread that wakes every 50 ms and notes
    every wake-up more than ``threshold`` s late. Gaps of tens of seconds were seen here in every
    process at once (peer, orderer, Connect and this benchmark alike: the virtual machine paused);
    a window with such a gap says nothing about the pipeline and is measured again."""

    def __init__(self, threshold: float = 1.0) -> None:
        self.threshold = threshold
        self.gaps: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last = time.time()
        while not self._stop.wait(0.05):
            now = time.time()
            if now - last > self.threshold:
                self.gaps.append((round(last, 3), round(now - last, 3)))
            last = now

    def close(self) -> list[tuple[float, float]]:
        self._stop.set()
        self._thread.join(2)
        return self.gaps


class Observer:
    """Kafka timestamps of our commands on gx.commands and our final results, as they arrive."""

    def __init__(self, bootstrap: str, tenant: str, dsn: str) -> None:
        self.tenant, self.bootstrap, self.dsn = tenant, bootstrap, dsn
        self.captured: dict[str, float] = {}
        self.results: dict[str, Any] = {}
        self.final_times: list[float] = []
        self.in_read_model: dict[str, float] = {}
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(t,), daemon=True) for t in ("gx.commands", "gx.command-results")
        ]
        self.threads.append(threading.Thread(target=self._watch_read_model, daemon=True))
        for t in self.threads:
            t.start()

    def _watch_read_model(self) -> None:
        """When each confirmed transfer's history row appears in the read model (id txId:0, a
        primary-key lookup of the few not seen yet, every 20 ms)."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set() or self._unseen():
                unseen = self._unseen()
                if unseen:
                    rows = conn.execute('SELECT id FROM "TransactionHistory" WHERE id = ANY(%s)', (list(unseen),))
                    now = time.time()
                    for (hid,) in rows.fetchall():
                        self.in_read_model[unseen[hid]] = now
                if self.stop.is_set():
                    break
                time.sleep(0.02)

    def _unseen(self) -> dict[str, str]:
        return {
            f"{r.fabricTxId}:0": rid
            for rid, r in list(self.results.items())
            if rid not in self.in_read_model and r.status.value == "CONFIRMED" and r.fabricTxId and "-story-" not in rid
        }

    def _run(self, topic: str) -> None:
        c = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"bench-{uuid.uuid4()}",
                "auto.offset.reset": "latest",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 100,
            }
        )
        c.subscribe([topic])
        while not self.stop.is_set():
            for m in c.consume(1000, 0.2):
                if m.error():
                    continue
                headers = message_headers(m)
                if topic == "gx.commands":
                    if headers.get("tenantId") == self.tenant:
                        self.captured[headers["requestId"]] = m.timestamp()[1] / 1000
                elif self.tenant.encode() in (value := m.value() or b""):
                    r = parse_result(value)
                    if r.tenantId == self.tenant and r.status.value in FINAL and r.requestId not in self.results:
                        self.results[r.requestId] = r
                        self.final_times.append(time.time())
        c.close()

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(5)


def stories(dsn: str, tenant: str, stop: threading.Event, inserted: list[tuple[str, str]]) -> None:
    """The demo's stories minus the system set-up and the pause (which would stop every writer), over and over."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not stop.is_set():
            run = uuid.uuid4().hex[:6]
            for _title, steps in stages(run)[1:-1]:
                rids = []
                for st in steps:
                    if st.expect_failure:
                        continue
                    rid = f"{tenant}-story-{run}-{st.name}"
                    enqueue(
                        conn,
                        tenant_id=tenant,
                        service=service_of(st.ctype),
                        command_type=st.ctype,
                        request_id=rid,
                        payload=st.payload,
                    )
                    inserted.append((rid, st.ctype))
                    rids.append(rid)
                # A story in progress is finished in its order even after ``stop``; only no new one starts.
                deadline = time.time() + 120
                while time.time() < deadline:
                    row = conn.execute(
                        'SELECT count(*) FROM "OutboxCommand" WHERE "tenantId" = %s AND "requestId" = ANY(%s)'
                        " AND status IN ('CONFIRMED', 'FAILED')",
                        (tenant, rids),
                    ).fetchone()
                    if row is not None and row[0] == len(rids):
                        break
                    time.sleep(0.05)


def wait_idle(dsn: str, timeout: float = 300) -> None:
    """Until no outbox row is PENDING (the backlog of a window drained), at most ``timeout`` s."""
    end = time.time() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while (
            time.time() < end
            and conn.execute(
                """SELECT 1 FROM "OutboxCommand" WHERE status IN ('PENDING', 'SUBMITTED')"""
                """ AND "createdAt" > now() - interval '15 minutes' LIMIT 1"""
            ).fetchone()
        ):
            time.sleep(1)


def cpu_rate(procs: dict[str, psutil.Process], seconds: float) -> dict[str, float]:
    """CPU milliseconds per second of each process over the next ``seconds``."""
    c0 = cpu(procs)
    time.sleep(seconds)
    c1 = cpu(procs)
    return {k: 1000 * (c1[k] - c0[k]) / seconds for k in c0}


def wait_quiet(cores: float = 0.3, timeout: float = 300) -> float:
    """Until the stack's processes together use less than ``cores`` of CPU over 2 s (at most
    ``timeout`` s); returns the seconds waited."""
    procs, t0 = pids(), time.time()
    while time.time() - t0 < timeout and sum(cpu_rate(procs, 2).values()) >= 1000 * cores:
        pass
    return time.time() - t0


def pids() -> dict[str, psutil.Process]:
    rows = {r["component"]: r["pid"] for r in Pipeline().status()}
    groups = [n for n in PROJECTORS if n.startswith("projector-")]  # the split layout's workers
    fabric = fabric_nodes(rows)
    missing = [n for n in (*WRITE_SIDE, *fabric, "block-publisher") if not rows.get(n)]
    if not rows.get("projectors") and not all(rows.get(g) for g in groups):
        missing.append("projectors")
    if missing:
        raise SystemExit(f"error: not running: {', '.join(missing)}; start everything with: gxctl up")
    return {n: psutil.Process(rows[n]) for n in (*PROCS, *fabric) if rows.get(n)}


def cpu(procs: dict[str, psutil.Process]) -> dict[str, float]:
    out = {}
    for name, p in procs.items():
        family = [p] + (p.children(recursive=True) if name == "postgres" else [])
        total = 0.0
        for q in family:
            try:
                t = q.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        out[name] = total
    return out


def window(fabric: FabricSettings, n_pairs: int) -> tuple[str, list[tuple[str, str]]]:
    """A new tenant for one measured window, with ``n_pairs`` wallet pairs made and funded in it
    (a tenant's commands act on its own entities only: pairs of another tenant are refused as
    OTHER_TENANT), once the stack has folded that funding (:func:`wait_quiet`)."""
    tenant = f"e2e-{uuid.uuid4().hex[:8]}"
    pairs = funded_pairs(fabric, n_pairs, tenant=tenant)
    wait_quiet()
    return tenant, pairs


def run_rate(
    dsn: str,
    bootstrap: str,
    pairs: list[tuple[str, str]],
    rate: float,
    seconds: float,
    n_writers: int = 4,
    on_start: Any = None,
    *,
    tenant: str,
) -> dict[str, Any]:
    """One measured window of ``tenant`` (:func:`window` makes it and its ``pairs``); ``on_start(procs)``
    is called as the writers start (the profilers)."""
    obs = Observer(bootstrap, tenant, dsn)
    time.sleep(2)  # the observers have joined before anything is written
    procs = pids()
    story_stop = threading.Event()
    story_cmds: list[tuple[str, str]] = []
    st = threading.Thread(target=stories, args=(dsn, tenant, story_stop, story_cmds), daemon=True)
    q: Any = mp.Queue()
    start_at = time.time() + 1.0
    share = [pairs[w::n_writers] for w in range(n_writers)]
    writers = [
        mp.Process(target=writer, args=(dsn, tenant, rate / n_writers, seconds, start_at, share[w], w, q))
        for w in range(n_writers)
    ]
    peer_log = peer_commits.mark()
    c0 = cpu(procs)
    stalls = Stalls()
    if on_start is not None:
        on_start(procs)
    for p in writers:
        p.start()
    st.start()
    backlog: list[tuple[float, int]] = []
    commits: dict[str, float] = {}
    while any(p.is_alive() for p in writers) or q.qsize():
        elapsed = time.time() - start_at
        if elapsed > 0:
            backlog.append((elapsed, max(0, int(min(elapsed, seconds) * rate) - len(obs.results))))
        try:
            commits.update(dict(q.get(timeout=1)))
        except Exception:
            pass
    for p in writers:
        p.join()
    end_of_load = time.time()
    c1 = cpu(procs)  # the CPU of the window (the drain after it is not counted)
    gaps = stalls.close()
    story_stop.set()
    st.join(30)
    expected = set(commits) | {rid for rid, _ in story_cmds}
    deadline = time.time() + 120
    while set(obs.results) < expected and time.time() < deadline:
        backlog.append((time.time() - start_at, len(expected - set(obs.results))))
        time.sleep(0.5)
    deadline = time.time() + 30
    while obs._unseen() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(1)
    obs.close()
    with psycopg.connect(dsn) as conn:
        updated = {
            r[0]: r[1].timestamp()
            for r in conn.execute(
                'SELECT "requestId", "updatedAt" FROM "OutboxCommand" WHERE "tenantId" = %s', (tenant,)
            )
        }
    out = summarise(rate, seconds, start_at, end_of_load, commits, story_cmds, obs, updated, backlog, c0, c1)
    out["machine_stalls"] = [(round(t - start_at, 1), g) for t, g in gaps]
    out.update({f"peer_{k}": v for k, v in (peer_commits.since(peer_log, start_at, end_of_load) or {}).items()})
    out["machine_stalled_s"] = round(sum(g for _, g in gaps), 1)
    return out


def summarise(
    rate: float,
    seconds: float,
    start_at: float,
    end_of_load: float,
    commits: dict[str, float],
    story_cmds: list[tuple[str, str]],
    obs: Observer,
    updated: dict[str, float],
    backlog: list[tuple[float, int]],
    c0: dict[str, float],
    c1: dict[str, float],
) -> dict[str, Any]:
    stages_ms: dict[str, list[float]] = {
        k: [] for k in ("capture", "queue", "endorse_submit", "order_commit", "write_back", "total")
    }
    for rid, t_commit in commits.items():
        r = obs.results.get(rid)
        if r is None or r.status.value != "CONFIRMED" or rid not in obs.captured or rid not in updated:
            continue
        tm = r.timings
        points = [
            t_commit,
            obs.captured[rid],
            tm.receivedAt.timestamp(),
            tm.submittedAt.timestamp(),
            tm.committedAt.timestamp(),
            updated[rid],
        ]
        for name, a, b in zip(list(stages_ms)[:-1], points, points[1:]):
            stages_ms[name].append((b - a) * 1000)
        stages_ms["total"].append((points[-1] - points[0]) * 1000)
    # Insert to read model (the wallet's history row visible), and projection lag proper: the
    # ledger commit (the submitter's committedAt) to the read model.
    read_model_ms, lag_ms = [], []
    for rid, seen in obs.in_read_model.items():
        r = obs.results[rid]
        if rid in commits:
            read_model_ms.append((seen - commits[rid]) * 1000)
        lag_ms.append((seen - r.timings.committedAt.timestamp()) * 1000)
    statuses: dict[str, int] = {}
    for r in obs.results.values():
        key = r.status.value if r.status.value == "CONFIRMED" else f"{r.status.value}:{r.errorCode}"
        statuses[key] = statuses.get(key, 0) + 1
    expected = set(commits) | {rid for rid, _ in story_cmds}
    lost = len(expected - set(obs.results))
    n = len(commits) + len(story_cmds)
    window = end_of_load - start_at
    confirmed_in_window = sum(1 for t in obs.final_times if start_at <= t <= end_of_load)
    tail = [b for t, b in backlog if seconds * 0.8 <= t <= seconds]
    head = [b for t, b in backlog if seconds * 0.2 <= t <= seconds * 0.4]
    growth = (max(tail) if tail else 0) - (max(head) if head else 0)
    cpu_ms = {k: round(1000 * (c1[k] - c0[k]) / max(1, n), 3) for k in c0}
    per_second = steadiness(obs.final_times, start_at, end_of_load)
    return {
        "offered_per_s": rate,
        "seconds": round(window, 1),
        "inserted": n,
        "story_commands": len(story_cmds),
        "story_types": len({t for _, t in story_cmds}),
        "achieved_insert_per_s": round(n / window, 1),
        "final_per_s_in_window": round(confirmed_in_window / window, 1),
        "statuses": statuses,
        "lost": lost,
        "backlog_growth": growth,
        "sustained": lost == 0 and growth <= rate,
        **{f"{k}_p50_ms": pct(v, 50) for k, v in stages_ms.items()},
        "total_p95_ms": pct(stages_ms["total"], 95),
        "total_p99_ms": pct(stages_ms["total"], 99),
        "capture_p99_ms": pct(stages_ms["capture"], 99),
        "read_model_seen": len(read_model_ms),
        "insert_to_read_model_p50_ms": pct(read_model_ms, 50),
        "insert_to_read_model_p99_ms": pct(read_model_ms, 99),
        "projection_lag_p50_ms": pct(lag_ms, 50),
        "projection_lag_p99_ms": pct(lag_ms, 99),
        **per_second,
        "cpu_ms_per_command": cpu_ms,
        "pipeline_cpu_ms_per_command": round(sum(cpu_ms[k] for k in PIPELINE), 3),
        "read_side_cpu_ms_per_command": round(sum(cpu_ms.get(k, 0.0) for k in PROJECTORS), 3),
        "series": {
            "backlog": backlog,
            "final_times": [round(t - start_at, 3) for t in obs.final_times],
            "latency": sorted(
                (round(commits[rid] - start_at, 3), round((updated[rid] - commits[rid]) * 1000, 1))
                for rid in commits
                if rid in updated and rid in obs.results
            ),
        },
    }


def steadiness(final_times: list[float], start_at: float, end_of_load: float) -> dict[str, Any]:
    """Final results per whole second of the window (its first 2 s left out: the pipeline fills):
    how many seconds had none, and the lowest and median count. Steady load, steady results."""
    first, last = int(start_at) + 2, int(end_of_load)
    counts = dict.fromkeys(range(first, last), 0)
    for t in final_times:
        if int(t) in counts:
            counts[int(t)] += 1
    values = sorted(counts.values())
    return {
        "empty_seconds": sum(1 for v in values if v == 0),
        "results_per_s_min": values[0] if values else None,
        "results_per_s_p50": values[len(values) // 2] if values else None,
    }


def plot(runs: list[dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    for r in runs:
        label = f"{r['offered_per_s']:.0f}/s offered"
        s = r["series"]
        ft = s["final_times"]
        if ft:
            buckets = [0] * (int(max(ft)) + 1)
            for t in ft:
                if t >= 0:
                    buckets[int(t)] += 1
            axes[0].plot(range(len(buckets)), buckets, label=label)
        if s["latency"]:
            xs, ys = zip(*s["latency"])
            axes[1].plot(xs, ys, ".", markersize=2, label=label)
        if s["backlog"]:
            xs, ys = zip(*s["backlog"])
            axes[2].plot(xs, ys, label=label)
    axes[0].set_ylabel("final results per second")
    axes[1].set_ylabel("insert to CONFIRMED (ms)")
    axes[1].set_yscale("log")
    axes[2].set_ylabel("commands not yet final")
    axes[2].set_xlabel("seconds since the load started")
    for a in axes:
        a.grid(alpha=0.3)
        a.legend(loc="upper right", fontsize=8)
    fig.suptitle("GX Pipeline end to end: outbox -> Debezium -> Kafka -> submitter -> Fabric -> outbox row")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


COLUMNS = [
    "offered_per_s",
    "achieved_insert_per_s",
    "final_per_s_in_window",
    "lost",
    "backlog_growth",
    "sustained",
    "total_p50_ms",
    "total_p95_ms",
    "total_p99_ms",
    "capture_p50_ms",
    "capture_p99_ms",
    "queue_p50_ms",
    "endorse_submit_p50_ms",
    "order_commit_p50_ms",
    "write_back_p50_ms",
    "insert_to_read_model_p99_ms",
    "projection_lag_p50_ms",
    "projection_lag_p99_ms",
    "empty_seconds",
    "results_per_s_min",
    "machine_stalled_s",
    "pipeline_cpu_ms_per_command",
    "read_side_cpu_ms_per_command",
    "peer_state_commit_max_ms",
    "peer_state_commits_over_250ms",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=positive(), default=200, help="commands per second offered")
    ap.add_argument("--duration", type=positive(), default=120, help="seconds of measured load per rate")
    ap.add_argument(
        "--find-max",
        type=positive_list(),
        default=None,
        help="comma-separated rates to try in order (replaces --rate); stops at the first that is not sustained",
    )
    ap.add_argument("--pairs", type=positive(int), default=2000, help="funded wallet pairs for the transfers")
    ap.add_argument("--ceiling-seconds", type=positive(zero=True), default=20, help="0 skips the direct-client ceiling")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="profile every process during the first measured rate (bench.profiling): py-spy for the "
        "Python workers, JFR for Kafka and Connect; flame graphs and summaries in bench/results/",
    )
    a = ap.parse_args()
    from stack.discover import use_local_stack

    use_local_stack()  # like gxctl: the local stack's settings unless GX_* are set
    from gxcommon.settings import connection_settings

    conn_s = connection_settings()
    conn_s.require("pg_dsn", "kafka_bootstrap")
    dsn, bootstrap = conn_s.dsn(), conn_s.kafka_bootstrap or ""
    rates = a.find_max or [a.rate]
    print(f"warm-up: the demo story (25 types), then funding {a.pairs} wallet pairs", flush=True)
    demo = run_demo(dsn, lambda line: None)

    from stack.manager import Stack

    fabric = FabricSettings(**fabric_settings_from(Stack()))
    tenant, pairs = window(fabric, a.pairs)
    run_rate(dsn, bootstrap, pairs, min(rates), 10, tenant=tenant)  # JVMs and caches warm; not reported
    # The ceiling first, while the pipeline is idle (after a rate it could not sustain, it would
    # still be draining its backlog and the ceiling would measure the leftovers' competition).
    ceiling = asyncio.run(run_ceiling([500], a.ceiling_seconds)) if a.ceiling_seconds else None
    # The ceiling's transactions reach the block publisher and the projectors too: let the stack
    # fold them before the first window, or the window would compete with that work.
    wait_quiet()
    runs = []
    profilers: list[Any] = []
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())

    def start_profiling(procs: dict[str, psutil.Process]) -> None:
        from bench.common import RESULTS
        from bench.profiling import Profilers

        python = {n: p.pid for n, p in procs.items() if n in ("submitter", "results-writer", *PROJECTORS)}
        jvm = {n: p.pid for n, p in procs.items() if n in ("kafka", "connect")}
        profilers.append(Profilers(RESULTS / f"profile-{stamp}", a.duration, python, jvm))

    for i, rate in enumerate(rates):
        for tries in range(3):
            tenant, pairs = window(fabric, a.pairs)
            print(f"measuring {rate:.0f}/s for {a.duration:.0f}s", flush=True)
            r = run_rate(
                dsn,
                bootstrap,
                pairs,
                rate,
                a.duration,
                on_start=start_profiling if a.profile and i == 0 and tries == 0 else None,
                tenant=tenant,
            )
            if profilers:
                r["profile"] = {"folder": f"bench/results/profile-{stamp}", "processes": profilers.pop().finish()}
            runs.append(r)
            if r["machine_stalled_s"] < 1:
                break
            print(
                f"  the machine paused for {r['machine_stalled_s']} s in that window (this process too); "
                "measuring it again",
                flush=True,
            )
            r["discarded"] = "machine paused"
            wait_idle(dsn)
            wait_quiet()
        if a.find_max and not r["sustained"]:
            break
    best = max((r["final_per_s_in_window"] for r in runs if r["sustained"] and "discarded" not in r), default=0.0)
    result = {
        "runs": runs,
        "warmup_demo": {k: demo[k] for k in ("commands", "types", "counts")},
        "ceiling": ceiling,
        "best_sustained_per_s": best,
        "ratio_to_ceiling": round(best / ceiling["ceiling_tx_per_s"], 3) if ceiling else None,
        "writers": 4,
        "submit_window_per_partition": WorkerSettings().submit_window,
    }
    path = save("e2e", result, compact=True)  # every command's latency is in the series
    plot(runs, str(path.with_suffix(".png")))
    print(table(runs, COLUMNS))
    print(
        "CPU ms per command: "
        + "; ".join(
            f"{r['offered_per_s']:.0f}/s: " + ", ".join(f"{k} {v}" for k, v in r["cpu_ms_per_command"].items())
            for r in runs
        )
    )
    if ceiling:
        print(
            f"direct-client ceiling (500 in flight, same session): {ceiling['ceiling_tx_per_s']} tx/s; "
            f"best sustained pipeline rate {best}/s = {result['ratio_to_ceiling']:.0%} of it"
        )
    for r in runs:
        for name, prof in (r.get("profile") or {}).get("processes", {}).items():
            top = ", ".join(f"{f} {p}%" for f, p in prof["self"][:4])
            print(f"profile {name} ({prof['samples']} samples), self time: {top}")
    print(f"results: {path} and {path.with_suffix('.png')}")


if __name__ == "__main__":
    main()
