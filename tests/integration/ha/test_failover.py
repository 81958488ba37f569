"""Failover of the pipeline's clients on the HA topology (issue 34): the whole pipeline (`gxctl up
--topology ha`, GX_FABRIC_GATEWAY naming both Org1 peers) and the submitter's gateway peer killed
(SIGKILL, by the pid of the process the stack started, kept down) under commands: every command
ends CONFIRMED once, through the other peer; the submitter (its calls and its commit-status
stream) and the block publisher say they failed over."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from pathlib import Path

import psycopg

from fabric_gateway import GatewayError
from gxsdk import enqueue
from schemas.examples import example
from stack.runstate import Desired
from tests.integration.fabric_helpers import CC_ARGS, TENANT, ensure, rid
from tests.integration.ha.helpers import HaStack
from tests.waiting import wait_until

FAILOVER = "gateway peer unreachable: failing over"


def _enqueue(dsn: str, tenant: str, first: int, n: int) -> list[str]:
    rids = []
    with psycopg.connect(dsn) as conn:
        for i in range(first, first + n):
            r = f"{tenant}-{i}"
            payload = {**example("CREATE_USER", i), "userId": f"{tenant}-u{i}"}
            enqueue(
                conn, tenant_id=tenant, service="svc-test", command_type="CREATE_USER", request_id=r, payload=payload
            )
            rids.append(r)
        conn.commit()
    return rids


def _rows(dsn: str, tenant: str) -> dict[str, tuple[str, str | None, int | None]]:
    with psycopg.connect(dsn) as conn:
        cur = conn.execute(
            'SELECT "requestId", status::text, "fabricTxId", "commitBlock" FROM "OutboxCommand" WHERE "tenantId" = %s',
            (tenant,),
        )
        return {r[0]: (r[1], r[2], r[3]) for r in cur.fetchall()}


def _log(ha: HaStack, name: str) -> str:
    path = Path(ha.env["GX_STATE_DIR"]) / "logs" / f"{name}.log"
    return path.read_text(errors="replace") if path.exists() else ""


PEERS = {"127.0.0.1:26150": "peer0-org1", "127.0.0.1:26160": "peer1-org1"}


def _failovers(ha: HaStack, worker: str) -> list[str]:
    """The endpoints ``worker`` failed over to, in order (its log's JSON failover lines)."""
    out = []
    for line in _log(ha, worker).splitlines():
        if FAILOVER in line and line.startswith("{"):
            out.append(json.loads(line)["to"])
    return out


def _in_use(ha: HaStack, worker: str) -> str:
    """The gateway endpoint ``worker`` uses now: the first, or the last it failed over to (a
    client stays on the endpoint that works; the pass's fault harness may have moved it)."""
    moves = _failovers(ha, worker)
    return moves[-1] if moves else ha.stack_env["GX_FABRIC_GATEWAY"].split(",")[0]


def test_killing_the_submitters_gateway_peer_loses_no_command(ha: HaStack) -> None:
    endpoints = ha.stack_env["GX_FABRIC_GATEWAY"].split(",")
    assert endpoints == ["127.0.0.1:26150", "127.0.0.1:26160"]
    dsn = ha.stack_env["GX_PG_DSN"]

    async def bootstrap() -> None:
        gw = ha.fabric().connect()
        try:
            await ensure(gw, "AdminContract:BootstrapSystem", rid("boot"))
            await ensure(gw, "AdminContract:InitializeCountry", rid("country"), "MY", "Malaysia")
        finally:
            await gw.close()

    asyncio.run(bootstrap())
    tenant = f"ha-{uuid.uuid4().hex[:8]}"
    first = _enqueue(dsn, tenant, 0, 10)
    # The submitter works through its gateway peer before it dies.
    wait_until(
        lambda: _rows(dsn, tenant),
        "some commands CONFIRMED through the gateway peer in use",
        until=lambda rows: sum(s == "CONFIRMED" for s, _, _ in rows.values()) >= 3,
        timeout=120,
        interval=0.2,
        detail=lambda: _log(ha, "submitter")[-2000:],
    )
    used = _in_use(ha, "submitter")
    victim, other = PEERS[used], next(e for e in endpoints if e != used)
    moves = {w: len(_failovers(ha, w)) for w in ("submitter", "block-publisher")}
    publisher_used = _in_use(ha, "block-publisher")
    pid = ha.pid(victim)
    # Kept down (the watchdog would start it again): the commands must go through the other peer.
    run = Path(ha.env["GX_STATE_DIR"]) / "run"
    Desired.change(run, remove={victim})
    os.kill(pid, signal.SIGKILL)
    try:
        _settle_through_the_other_peer(ha, dsn, tenant, first, victim)
        # The submitter failed over once more, to the other peer; so did the block publisher if
        # it was reading from the victim (it may have been on the other peer already).
        assert _failovers(ha, "submitter")[moves["submitter"] :] == [other]
        if publisher_used == used:
            wait_until(
                lambda: _failovers(ha, "block-publisher")[moves["block-publisher"] :],
                "the block publisher failing over",
                until=lambda new: new == [other],
                timeout=30,
                detail=lambda: _log(ha, "block-publisher")[-2000:],
            )
    finally:  # the pass's other tests get the whole network back, the peer able to endorse
        Desired.change(run, add={victim})
        wait_until(lambda: ha.running_pid(victim), f"{victim} running again", timeout=60, detail=lambda: "")
        address = next(e for e, name in PEERS.items() if name == victim)
        wait_until(lambda: _endorses_alone(ha, address), f"{victim} endorsing with the others", timeout=60)


def _endorses_alone(ha: HaStack, address: str) -> bool:
    """Whether the gateway peer at ``address`` alone gets a command endorsed (its gossip knows the
    other organisations' peers again). An endorsement is not submitted: nothing changes."""

    async def go() -> bool:
        gw = ha.fabric(gateway=address).connect()
        try:
            await gw.endorse(*CC_ARGS, "AdminContract:BootstrapSystem", [TENANT, rid("probe")])
            return True
        except GatewayError:
            return False
        finally:
            await gw.close()

    return asyncio.run(go())


def _settle_through_the_other_peer(ha: HaStack, dsn: str, tenant: str, first: list[str], victim: str) -> None:
    second = _enqueue(dsn, tenant, 10, 10)
    rows = wait_until(
        lambda: _rows(dsn, tenant),
        "all 20 commands final",
        until=lambda rows: len(rows) == 20 and all(s in ("CONFIRMED", "FAILED") for s, _, _ in rows.values()),
        timeout=120,
        interval=0.5,
        detail=lambda: _log(ha, "submitter")[-3000:],
    )
    assert set(rows) == set(first + second)
    assert {s for s, _, _ in rows.values()} == {"CONFIRMED"}, rows
    tx_ids = [tx for _, tx, _ in rows.values()]
    assert all(tx_ids) and len(set(tx_ids)) == 20  # each its own transaction, none doubled
    assert all(block and block > 0 for _, _, block in rows.values())
    assert ha.running_pid(victim) is None  # it stayed down: the other peer did the work
