"""The fault harness: one fault at a time under steady load, then recovery, then the ledger's word.

    .venv/bin/python -m bench.faults [--profile full|ci] [--faults kill-submitter,freeze-peer,...]
                                     [--rate 40] [--pairs 100] [--after 20]

Needs `gxctl up` (finds the local stack by itself, like gxctl). For each fault, a tenant of its own:

1. steady load through the outbox (``--rate`` commands/s: TRANSFER_TOKENS of 1 between funded
   wallet pairs, one in ten of them over the sender's balance and one in ten out of a wallet
   frozen before the run, both refused by the chaincode, so rejections are in flight during every
   fault; and beside them the demo's stories, stage by stage), 10 s before the fault;
2. the fault (SIGKILL of a process, which the stack's watchdog restarts; SIGSTOP then SIGCONT of
   a process and its children; a second submitter joining the group, then leaving it; the read
   models restored from a backup taken before the load; a rebuild of the ledger group; the read
   side's inputs of bench.read_inputs: text with NUL or control characters, a 1,000-character id,
   a record near the size limit, a rebuild while a bad event arrives, a dead letter repaired;
   bench.hostile_records on every partition of gx.commands, each to be dead-lettered),
   while the load goes on, and ``--after`` seconds of load after it;
3. every command final, then the checks of bench.chaos_checks: nothing lost, nothing applied
   twice (the chaincode events per requestId in every valid transaction of the run's blocks, read
   through the peer's Deliver service, and each wallet's balance against the confirmed
   transfers), every status equal to the ledger's record (QueryContract:ListRequests), every
   command the chaincode must refuse FAILED with its recorded rejection, and no
   dead letter the load did not mean; and the read side (bench.read_side): `gxctl verify` clean,
   the time from the fault's end until every projector has folded every event of the blocks
   committed by then, and the same measured again at the end of the load after the fault (the
   projection lag once recovered). After a read-side input, first (bench.read_inputs.settle):
   every group's lag back to 0, its dead letters on gx.projections.dlq with their reason, and
   `gxctl projections repair`.

Reports, per fault: commands, rejected (FAILED with a recorded rejection), lost, doubled, wrong
status, unexpected dead letters, balance mismatches, read-model differences, the restart time
(killed until healthy again), the resume time (the component healthy again, or thawed, until the
first CONFIRMED after it), the recovery time (the fault's end until every command enqueued before
it is final) and the read side's recovery time. JSON to bench/results/faults-<time>.json and a
table on stdout; exit 1 if any fault's run is not clean.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg

from bench import hostile_records, read_inputs, read_side
from bench.chaos_checks import Transfer, check
from bench.common import message_headers, positive, save, table
from schemas.permissions import service_of


@dataclass(frozen=True)
class Fault:
    name: str
    kind: str  # kill, kill-in-turn, freeze, scale, restore, rebuild, input, hostile
    target: str  # a component or worker of `gxctl status`
    seconds: float = 0.0


FAULTS = {
    f.name: f
    for f in (
        Fault("kill-submitter", "kill", "submitter"),
        Fault("kill-results-writer", "kill", "results-writer"),
        Fault("kill-connect", "kill", "connect"),
        Fault("kill-kafka", "kill", "kafka"),
        Fault("kill-postgres", "kill", "postgres"),
        Fault("kill-peer", "kill", "peer"),
        Fault("kill-orderer", "kill", "orderer"),
        Fault("kill-chaincode", "kill", "chaincode"),
        Fault("freeze-peer", "freeze", "peer", 30),
        # Longer than the gateway's commit-status timeout (60 s): commands sent before it are unsure.
        Fault("freeze-orderer", "freeze", "orderer", 70),
        Fault("freeze-postgres", "freeze", "postgres", 15),
        Fault("scale-submitters", "scale", "submitter", 20),
        # The read side (the kills of Postgres and the broker above are checked on both sides).
        Fault("kill-block-publisher", "kill", "block-publisher"),
        Fault("kill-projectors", "kill", "projectors"),  # every projection group's process (`gxctl up`'s default)
        Fault("restore-read-models", "restore", "postgres"),
        Fault("rebuild-ledger", "rebuild", "projectors"),
        # The read side's inputs (issue 32, bench.read_inputs): what a producer or the ledger can say.
        *(Fault(name, "input", "projectors") for name in read_inputs.INPUTS),
        # Issue 30: records on gx.commands that are not commands, good commands behind them.
        Fault("hostile-records", "hostile", "submitter"),
        # The HA topology's (issue 34; `gxctl up --topology ha`): a target starting with @ is
        # found when the fault is injected (resolve_target), the Raft leader from the orderers'
        # own metrics.
        Fault("kill-raft-leader", "kill", "@raft-leader"),
        Fault("kill-raft-follower", "kill", "@raft-follower"),
        Fault("kill-gateway-peer", "kill", "peer0-org1"),  # the first of GX_FABRIC_GATEWAY
        Fault("kill-org3-peer", "kill", "peer0-org3"),  # MAJORITY is still met by Org1 and Org2
        Fault("freeze-raft-follower", "freeze", "@raft-follower", 30),
        # Both Org1 peers (the clients' two gateway endpoints), one after the other, each back
        # before the next goes.
        Fault("kill-org1-peers-in-turn", "kill-in-turn", "peer0-org1,peer1-org1"),
    )
}
HA_FAULTS = [
    "kill-raft-leader",
    "kill-raft-follower",
    "kill-gateway-peer",
    "kill-org3-peer",
    "freeze-raft-follower",
    "kill-org1-peers-in-turn",
]
PROFILES = {
    "full": [f for f in FAULTS if f not in HA_FAULTS],
    # On the HA topology: its own faults (the single network's peer, orderer are not there).
    "ha": HA_FAULTS,
    "ha-ci": ["kill-raft-leader", "kill-gateway-peer"],
    # CI: a few faults, small load (the whole suite must stay well inside CI's 90 minutes).
    "ci": [
        "kill-submitter",
        "kill-chaincode",
        "freeze-peer",
        "hostile-records",
        "scale-submitters",
        "kill-block-publisher",
        "restore-read-models",
        *read_inputs.INPUTS,
    ],
}


class Load:
    """Commands through the outbox at a fixed rate (transfers) plus the demo's stories, each insert
    retried until Postgres takes it (the same requestId: the SDK's enqueue is idempotent)."""

    def __init__(self, dsn: str, tenant: str, rate: float, pairs: list[tuple[str, str]], frozen: str) -> None:
        self.dsn, self.tenant, self.rate, self.pairs, self.frozen = dsn, tenant, rate, pairs, frozen
        self.enqueued: list[tuple[str, float]] = []  # (requestId, when)
        self.transfers: list[Transfer] = []
        self.must_reject: set[str] = set()  # commands the chaincode refuses by its rules
        self.stop = threading.Event()
        self.insert_retries = 0
        self.threads = [
            threading.Thread(target=self._transfers, daemon=True),
            threading.Thread(target=self._stories, daemon=True),
        ]

    def start(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(300)

    def _enqueue(self, conn_box: list[Any], ctype: str, rid: str, payload: dict[str, Any]) -> None:
        from gxsdk import enqueue

        while True:
            try:
                if not conn_box or conn_box[0].closed:
                    conn_box[:] = [psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)]
                enqueue(
                    conn_box[0],
                    tenant_id=self.tenant,
                    service=service_of(ctype),
                    command_type=ctype,
                    request_id=rid,
                    payload=payload,
                )
                self.enqueued.append((rid, time.time()))
                return
            except psycopg.OperationalError:
                self.insert_retries += 1
                if conn_box:
                    conn_box[0].close()
                time.sleep(0.5)

    def _transfers(self) -> None:
        box: list[Any] = []
        t0, i = time.time(), 0
        while not self.stop.is_set():
            delay = t0 + i / self.rate - time.time()
            if delay > 0:
                time.sleep(delay)
            a, b = self.pairs[i % len(self.pairs)]
            rid, amount = f"{self.tenant}-x{i}", 1
            if i % 10 == 3:  # over the sender's balance: INSUFFICIENT_FUNDS, recorded
                amount = 10**15
                self.must_reject.add(rid)
            elif i % 10 == 7:  # out of the frozen wallet: refused, recorded
                a = self.frozen
                self.must_reject.add(rid)
            self._enqueue(box, "TRANSFER_TOKENS", rid, {"fromWalletId": a, "toWalletId": b, "amount": amount})
            self.transfers.append(Transfer(rid, a, b, amount))
            i += 1

    def _stories(self) -> None:
        from stack.demo import stages

        box: list[Any] = []
        while not self.stop.is_set():
            run = uuid.uuid4().hex[:6]
            for _, steps in stages(run)[1:-1]:  # no system set-up, no pause (it would stop every writer)
                rids = []
                for st in steps:
                    if st.expect_failure:
                        continue
                    rid = f"{self.tenant}-story-{run}-{st.name}"
                    self._enqueue(box, st.ctype, rid, st.payload)
                    rids.append(rid)
                while not self._all_final(box, rids):  # a story finishes in its order even after stop
                    time.sleep(0.2)

    def _all_final(self, box: list[Any], rids: list[str]) -> bool:
        try:
            if not box or box[0].closed:
                box[:] = [psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)]
            n = (
                box[0]
                .execute(
                    'SELECT count(*) FROM "OutboxCommand" WHERE "tenantId" = %s AND "requestId" = ANY(%s)'
                    " AND status IN ('CONFIRMED', 'FAILED')",
                    (self.tenant, rids),
                )
                .fetchone()[0]
            )
            return n == len(rids)
        except psycopg.OperationalError:
            if box:
                box[0].close()
            return False


def rows_of(dsn: str, tenant: str) -> dict[str, tuple[str, str | None]]:
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        return {
            r[0]: (r[1], r[2])
            for r in conn.execute(
                'SELECT "requestId", status::text, "errorCode" FROM "OutboxCommand" WHERE "tenantId" = %s', (tenant,)
            )
        }


def wait_final(dsn: str, tenant: str, rids: list[str], timeout: float) -> float | None:
    """Seconds until every one of ``rids`` is final, or None after ``timeout``."""
    t0 = time.monotonic()
    pending = list(set(rids))
    while time.monotonic() - t0 < timeout:
        try:
            with psycopg.connect(dsn, connect_timeout=5) as conn:
                final = {
                    r[0]
                    for r in conn.execute(
                        'SELECT "requestId" FROM "OutboxCommand" WHERE "tenantId" = %s AND "requestId" = ANY(%s)'
                        " AND status IN ('CONFIRMED', 'FAILED')",
                        (tenant, pending),
                    )
                }
            pending = [r for r in pending if r not in final]
        except psycopg.OperationalError:
            pass
        if not pending:
            return time.monotonic() - t0
        time.sleep(0.2)
    return None


def pick_target(target: str, nodes: dict[str, dict[str, Any]]) -> str:
    """The component a fault's ``target`` names: itself, or for ``@raft-leader`` the orderer that
    leads and ``@raft-follower`` the first that does not (from stack.fabric_ha.node_state). Pure;
    SystemExit when the cluster has no single leader."""
    if not target.startswith("@"):
        return target
    from stack.fabric_ha import raft_leader

    leader = raft_leader(nodes)
    if leader is None:
        raise SystemExit("error: no single Raft leader among the orderers (is the HA stack up? gxctl up --topology ha)")
    if target == "@raft-leader":
        return leader
    if target == "@raft-follower":
        return next(n for n in sorted(nodes) if n.startswith("orderer") and n != leader)
    raise ValueError(target)


def resolve_target(target: str) -> str:
    """:func:`pick_target` on the running stack's nodes, asked now."""
    if not target.startswith("@"):
        return target
    from stack.fabric_ha import node_state
    from stack.pipeline import Pipeline

    return pick_target(target, node_state(Pipeline().stack.s))


def status_row(name: str) -> dict[str, Any]:
    from stack.pipeline import Pipeline

    return next(r for r in Pipeline().status() if r["component"] == name)


def wait_healthy(name: str, since_pid: int | None, timeout: float = 180) -> float | None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        r = status_row(name)
        if r["pid"] and r["pid"] != since_pid and r["healthy"]:
            return time.monotonic() - t0
        time.sleep(0.3)
    return None


def family(pid: int) -> list[psutil.Process]:
    p = psutil.Process(pid)
    return [p, *p.children(recursive=True)]


def inject(
    fault: Fault, env: dict[str, str], dsn: str, saved: dict[str, bytes] | None, on_release: Any = lambda t: None
) -> dict[str, Any]:
    """Do the fault; returns what was measured of it: the restart time, and ``released``, the time
    the fault ended (the kill itself; the SIGCONT; the second submitter's exit; the restore of the
    read models from ``saved``; the rebuild's swap), which ``on_release`` is also given at once."""
    if fault.kind == "restore":
        assert saved is not None
        read_side.restore(dsn, saved)
        on_release(released := time.time())
        return {"released": released}
    if fault.kind == "rebuild":
        proc = subprocess.run(
            [sys.executable, "-m", "gxctl.main", "projections", "rebuild", "ledger"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=900,
        )
        if proc.returncode != 0:
            raise SystemExit(f"error: the rebuild failed: {proc.stderr.strip()}")
        on_release(released := time.time())
        return {"released": released}
    if fault.kind == "kill-in-turn":  # each target killed once it is healthy again, in order
        names = fault.target.split(",")
        for i, name in enumerate(names):
            pid = status_row(name)["pid"]
            if pid is None:
                raise SystemExit(f"error: {name} is not running; start everything with: gxctl up")
            os.kill(pid, signal.SIGKILL)
            if i < len(names) - 1:
                if wait_healthy(name, pid) is None:
                    raise SystemExit(f"error: {name} did not come back healthy")
        # Like a kill: the fault ends at the last kill, its restart measured from there.
        on_release(released := time.time())
        restart = wait_healthy(names[-1], pid)
        return {
            "restart_s": round(restart, 1) if restart is not None else None,
            "released": released,
            "target": fault.target,
        }
    target = resolve_target(fault.target)
    pid = status_row(target)["pid"]
    if pid is None:
        raise SystemExit(f"error: {target} is not running; start everything with: gxctl up")
    if fault.kind == "kill":
        os.kill(pid, signal.SIGKILL)
        on_release(released := time.time())
        restart = wait_healthy(target, pid)
        return {"restart_s": round(restart, 1) if restart is not None else None, "released": released, "target": target}
    if fault.kind == "freeze":
        procs = family(pid)
        for p in procs:
            p.suspend()
        time.sleep(fault.seconds)
        for p in procs:
            try:
                p.resume()
            except psutil.Error:
                pass
        on_release(released := time.time())
        return {"frozen_s": fault.seconds, "released": released, "target": target}
    if fault.kind == "scale":
        from gxcommon.worker_settings import WorkerSettings
        from stack.pipeline import Pipeline

        pl = Pipeline()
        port = _free_port()
        second = subprocess.Popen(
            [sys.executable, "-m", "gxctl.main", "run", "submitter"],
            env={
                **os.environ,
                **env,
                **pl.stack.worker_env("submitter"),
                "GX_WEB_PORT": str(port),
                # Static membership (GX_GROUP_INSTANCE_ID): a name of its own, or it would fence the first.
                **({"GX_GROUP_INSTANCE_ID": f"{iid}-second"} if (iid := WorkerSettings().group_instance_id) else {}),
            },
            stdout=open(pl.stack.s.log_dir / "submitter-second.log", "ab"),
            stderr=subprocess.STDOUT,
        )
        time.sleep(fault.seconds)  # the group rebalances to two members under load
        second.terminate()  # and back to one
        try:
            second.wait(60)
        except subprocess.TimeoutExpired:
            second.kill()
        on_release(released := time.time())
        return {"released": released}
    raise ValueError(fault.kind)


def freeze_wallet(dsn: str, tenant: str, wallet: str, timeout: float = 120) -> None:
    """Freeze ``wallet`` through the outbox, as the tenant's service would; wait until CONFIRMED.
    Raises RuntimeError if it ends otherwise or not in time."""
    from gxsdk import enqueue

    rid = f"{tenant}-freeze"
    with psycopg.connect(dsn, autocommit=True) as conn:
        payload = {"walletId": wallet, "reason": "the fault harness: its transfers must be refused"}
        enqueue(
            conn,
            tenant_id=tenant,
            service=service_of("FREEZE_WALLET"),
            command_type="FREEZE_WALLET",
            request_id=rid,
            payload=payload,
        )
    if wait_final(dsn, tenant, [rid], timeout) is None or rows_of(dsn, tenant)[rid][0] != "CONFIRMED":
        raise RuntimeError(f"the load's frozen wallet {wallet} was not frozen: {rows_of(dsn, tenant).get(rid)}")


def first_confirmed_after(dsn: str, tenant: str, at: float) -> float | None:
    """Seconds from ``at`` (epoch) to the first of the tenant's rows CONFIRMED after it, or None."""
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        row = conn.execute(
            'SELECT extract(epoch FROM min("updatedAt")) FROM "OutboxCommand"'
            ' WHERE "tenantId" = %s AND status = \'CONFIRMED\' AND "updatedAt" >= to_timestamp(%s)',
            (tenant, at),
        ).fetchone()
    return None if row is None or row[0] is None else float(row[0]) - at


def inject_hostile(bootstrap: str, on_release: Any) -> dict[str, Any]:
    """bench.hostile_records on every partition of gx.commands; ``released`` when acknowledged."""
    sent, since_ms = hostile_records.produce(bootstrap, f"chaos-hostile-{uuid.uuid4().hex[:6]}")
    on_release(released := time.time())
    return {"released": released, "hostile": (sent, since_ms)}


def inject_read_input(
    fault: Fault, env: dict[str, str], dsn: str, bootstrap: str, pairs: list[tuple[str, str]], on_release: Any
) -> dict[str, Any]:
    """The read side's inputs (bench.read_inputs), sent while the load runs; ``released`` when sent."""
    injected = read_inputs.inject(fault.name, env, dsn, bootstrap)
    on_release(released := time.time())
    return {"released": released, "injected": injected}


async def ledger_view(
    tenant: str, first_block: int, wallets: list[str]
) -> tuple[dict[str, bool], Counter[str], dict[str, int], int]:
    """The chaincode's records of the tenant, the events per requestId in valid transactions from
    ``first_block`` to the current height, and the wallets' balances."""
    from gxcommon.fabric_settings import FabricSettings

    f = FabricSettings()
    gw = f.connect()
    try:
        from projections.ledger_reads import every_page

        records = await every_page(gw, f.channel, f.chaincode, "ListRequests", tenant)
        ledger = {r["requestId"]: bool(r.get("rejected")) for r in records}
        height = await gw.chain_height(f.channel)
        events: Counter[str] = Counter()
        prefix = f"{tenant}-"
        if height > first_block:
            blocks = gw.blocks(f.channel, first_block)
            try:
                async for b in blocks:
                    for tx in b.transactions:
                        if not tx.valid:
                            continue
                        for ev in tx.events:
                            try:
                                rid = json.loads(ev.payload).get("requestId", "")
                            except (ValueError, AttributeError):
                                continue
                            if isinstance(rid, str) and rid.startswith(prefix):
                                events[rid] += 1
                    if b.number >= height - 1:
                        break
            finally:
                await blocks.aclose()
        balances = {}
        for w in wallets:
            doc = json.loads(await gw.evaluate(f.channel, f.chaincode, "QueryContract:Get", ["wallet", w]))
            balances[w] = int(doc["balance"]) if doc else 0
        return ledger, events, balances, height
    finally:
        await gw.close()


async def height_and_balances(wallets: list[str]) -> tuple[int, dict[str, int]]:
    from gxcommon.fabric_settings import FabricSettings

    f = FabricSettings()
    gw = f.connect()
    try:
        balances = {}
        for w in wallets:
            doc = json.loads(await gw.evaluate(f.channel, f.chaincode, "QueryContract:Get", ["wallet", w]))
            balances[w] = int(doc["balance"]) if doc else 0
        return await gw.chain_height(f.channel), balances
    finally:
        await gw.close()


def dead_letters(bootstrap: str, tenant: str) -> list[str]:
    """The requestIds of the tenant's records on gx.commands.dlq (read to its end)."""
    from confluent_kafka import TopicPartition

    from gxcommon.kafka import Consumer, offset_of, partition_of

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"chaos-{uuid.uuid4()}", "enable.auto.commit": False})
    out = []
    try:
        topic = "gx.commands.dlq"
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        done = {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + 60
        while len(done) < len(ends) and time.monotonic() < deadline:
            for m in c.consume(500, 1.0):
                if m.error():
                    continue
                h = message_headers(m)
                if h.get("tenantId") == tenant:
                    out.append(h.get("requestId", "?"))
                if offset_of(m) + 1 >= ends[partition_of(m)]:
                    done.add(partition_of(m))
    finally:
        c.close()
    return out


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fault_tenant(fault: str, n_pairs: int) -> tuple[str, list[tuple[str, str]]]:
    """A new tenant for one fault's run, with ``n_pairs`` wallet pairs made and funded in it: a
    tenant's commands act on its own entities only (others are refused as OTHER_TENANT)."""
    from bench.fabric_ceiling import funded_pairs
    from gxcommon.fabric_settings import FabricSettings

    tenant = f"chaos-{fault}-{uuid.uuid4().hex[:6]}"
    return tenant, funded_pairs(FabricSettings(), n_pairs, funds=10**6, connections=2, tenant=tenant)


def run_fault(
    fault: Fault,
    dsn: str,
    bootstrap: str,
    env: dict[str, str],
    pairs: list[tuple[str, str]],
    rate: float,
    warm: float,
    after: float,
    say: Any,
    *,
    tenant: str,
) -> dict[str, Any]:
    """One fault under load in ``tenant``, whose ``pairs`` (:func:`fault_tenant`) the load spends."""
    wallets = sorted({w for p in pairs for w in p})
    # The last pair's sender is frozen: one transfer in ten comes out of it and must be refused.
    frozen, pairs = pairs[-1][0], pairs[:-1]
    freeze_wallet(dsn, tenant, frozen)
    first_block, before = asyncio.run(height_and_balances(wallets))
    saved = read_side.backup(dsn) if fault.kind == "restore" else None  # older than what the load adds
    load = Load(dsn, tenant, rate, pairs, frozen).start()
    time.sleep(warm)
    say(f"{fault.name}: fault under load")
    t_fault = time.time()
    # The read side, from the fault's end: every event of the blocks committed by then folded.
    read: dict[str, float | None] = {}
    watchers: list[threading.Thread] = []

    def on_release(at: float) -> None:
        t = threading.Thread(target=lambda: read.update(s=read_side.recovery(dsn, bootstrap, at, 600)), daemon=True)
        t.start()
        watchers.append(t)

    if fault.kind == "input":
        measured = inject_read_input(fault, env, dsn, bootstrap, pairs, on_release)
    elif fault.kind == "hostile":
        measured = inject_hostile(bootstrap, on_release)
    else:
        measured = inject(fault, env, dsn, saved, on_release)
    t_release = measured["released"]
    [read_watch] = watchers
    # From the fault's end, concurrently with the load: when is every command enqueued before it final?
    before_release = [rid for rid, at in list(load.enqueued) if at <= t_release]
    done: dict[str, float | None] = {}
    t_watch = time.time()
    watcher = threading.Thread(target=lambda: done.update(s=wait_final(dsn, tenant, before_release, 600)), daemon=True)
    watcher.start()
    time.sleep(max(0.0, t_release + after - time.time()))
    # The projection lag after the fault, under the same load: how long until every block
    # committed at this moment is in every read model.
    lag = read_side.recovery(dsn, bootstrap, time.time(), 60)
    load.finish()
    watcher.join(660)
    seconds = done.get("s")
    recovery = None if seconds is None else seconds + (t_watch - t_release)
    everything = [rid for rid, _ in load.enqueued]
    drained = wait_final(dsn, tenant, everything, 600)
    rows = rows_of(dsn, tenant)
    ledger, events, after_balances, last_height = asyncio.run(ledger_view(tenant, first_block, wallets))
    verdict = check(
        everything,
        rows,
        ledger,
        events,
        dead_letters(bootstrap, tenant),
        transfers=load.transfers,
        before=before,
        after=after_balances,
        must_reject=load.must_reject,
    )
    # From the component healthy again (a kill: after its restart; a freeze: thawed) to the first CONFIRMED.
    healthy_at = t_release + (measured.get("restart_s") or 0.0)
    resume = first_confirmed_after(dsn, tenant, healthy_at)
    hostile = hostile_records.wait_dead_lettered(bootstrap, *measured["hostile"]) if "hostile" in measured else None
    read_watch.join(660)
    read_recovery = read.get("s")
    # The read side's inputs: lag back to 0, their dead letters, then the repair before verify.
    inputs = read_inputs.settle(measured["injected"], env, dsn, bootstrap) if fault.kind == "input" else None
    read_diffs = read_side.differences(60)
    clean = verdict.clean and read_recovery is not None and lag is not None and not read_diffs
    clean = clean and (inputs is None or inputs["ok"]) and (hostile is None or hostile["ok"])
    result = {
        "fault": fault.name,
        **verdict.counts(),
        "read_differences": len(read_diffs),
        "clean": clean,
        "restart_s": measured.get("restart_s"),
        "target": measured.get("target"),  # the process killed (the Raft leader: found at injection)
        "resume_s": round(resume, 1) if resume is not None else None,
        "recovery_s": round(recovery, 1) if recovery is not None else None,
        "read_recovery_s": round(read_recovery, 1) if read_recovery is not None else None,
        "read_lag_after_s": round(lag, 2) if lag is not None else None,
        "fault_s": round(t_release - t_fault, 1),
        "drained": drained is not None,
        "insert_retries": load.insert_retries,
        "blocks": [first_block, last_height],
        "tenant": tenant,
        "statuses": dict(Counter(s for s, _ in rows.values())),
        **({"read_inputs": inputs} if inputs is not None else {}),
        **({"hostile_records": hostile} if hostile is not None else {}),
        "examples": {
            "lost": verdict.lost[:5],
            "doubled": verdict.doubled[:5],
            "wrong_status": verdict.wrong_status[:5],
            "unexpected_dead_letters": verdict.unexpected_dead_letters[:5],
            "balance_mismatches": dict(list(verdict.balance_mismatches.items())[:5]),
            "read_differences": read_diffs[:5],
        },
    }
    say(f"{fault.name}: {json.dumps({k: result[k] for k in COLUMNS[1:]})}")
    return result


COLUMNS = [
    "fault",
    "commands",
    "rejected",
    "lost",
    "doubled",
    "wrong_status",
    "unexpected_dead_letters",
    "balance_mismatches",
    "read_differences",
    "restart_s",
    "resume_s",
    "recovery_s",
    "read_recovery_s",
    "read_lag_after_s",
    "clean",
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=sorted(PROFILES), default="full")
    ap.add_argument("--faults", default="", help=f"comma-separated, instead of the profile's: {', '.join(FAULTS)}")
    ap.add_argument(
        "--rate", type=positive(), default=40, help="transfers per second offered (stories come beside them)"
    )
    ap.add_argument("--pairs", type=positive(int), default=100, help="funded wallet pairs")
    ap.add_argument("--warm", type=positive(zero=True), default=10, help="seconds of load before the fault")
    ap.add_argument("--after", type=positive(), default=20, help="seconds of load after the fault")
    ap.add_argument("--out", type=Path, default=None, help="folder for the JSON result (default bench/results)")
    a = ap.parse_args(argv)
    names = [n.strip() for n in a.faults.split(",") if n.strip()] or PROFILES[a.profile]
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        print(f"error: unknown fault(s) {', '.join(unknown)}; known: {', '.join(FAULTS)}", file=sys.stderr)
        return 2
    from stack.discover import use_local_stack

    use_local_stack()
    from gxcommon.settings import connection_settings
    from stack.manager import Stack

    s = connection_settings()
    s.require("pg_dsn", "kafka_bootstrap")
    env = Stack().env()

    def say(line: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)

    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    runs = []
    for n in names:
        try:
            say(f"{n}: funding {a.pairs} wallet pairs in the fault's tenant")
            tenant, pairs = fault_tenant(n, a.pairs)
            runs.append(
                run_fault(
                    FAULTS[n], s.dsn(), s.kafka_bootstrap or "", env, pairs, a.rate, a.warm, a.after, say, tenant=tenant
                )
            )
        except Exception as e:
            say(f"{n}: the harness failed: {type(e).__name__}: {e}")
            runs.append({"fault": n, "error": f"{type(e).__name__}: {e}", "clean": False})
    result = {
        "started": started,
        "profile": a.profile if not a.faults else "custom",
        "rate_per_s": a.rate,
        "pairs": a.pairs,
        "warm_s": a.warm,
        "after_s": a.after,
        "command": " ".join(["python -m bench.faults", *(argv or sys.argv[1:])]),
        "runs": runs,
        "clean": all(r["clean"] for r in runs),
    }
    path = save("faults", result, out=a.out)
    print(table(runs, COLUMNS))
    print(f"results: {path}")
    return 0 if result["clean"] else 1


if __name__ == "__main__":
    sys.exit(main())
