"""The read side's inputs in the fault harness (bench.faults, issue 32): what a producer or the
ledger can say that the read models cannot take, while the harness's load runs.

- ``bad-inputs``: text with NUL, text with a control character (ESC), a 1,000-character CJK id
  (3,000 bytes of UTF-8: too long for a Postgres index entry, within the chaincode's limit of
  1,000 UTF-16 units) and a record near the size limit, each tried on every path: the SDK's
  produce (the command model refuses), a record produced raw to gx.commands as an upstream service
  in another language would (the submitter REJECTs it), the outbox's enqueue (refused) and a raw
  INSERT into it as an old service would (Postgres' jsonb refuses NUL; the rest the submitter
  REJECTs), and the ledger itself through the gateway, as any client of the chaincode can (what
  the chaincode commits must be dead-lettered by the groups that cannot store it, or stored). The
  record near the size limit cannot come from the chaincode (its texts are bounded): it is
  produced straight onto gx.fabric.events as an event of an unknown type at the publisher's limit
  (a newer chaincode), which every group dead-letters whole. A raw INSERT of a 1 MB command is not
  tried: it is a write-path fault (Kafka Connect's record size), not the read side's.
- ``rebuild-bad-event``: a rebuild of the ledger group while an event no group knows arrives.
- ``repair-dead-letter``: a loan application the read model refuses (a CHECK, as a schema mistake
  would), dead-lettered, then the constraint gone and the row repaired from the ledger.

Each run then checks (:func:`settle`): every group's lag back to 0 on every partition, every
expected dead letter on gx.projections.dlq with its reason (and each group's once), and
`gxctl projections repair` before the harness's `gxctl verify`. Kept apart from the write-side
faults of bench.faults on purpose (this module's functions only).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from bench.common import message_headers
from gxcommon.kafka import Headers
from gxcommon.record_limits import MAX_EVENT_BYTES, MAX_RECORD_BYTES

INPUTS = ("bad-inputs", "rebuild-bad-event", "repair-dead-letter")
GROUPS = ("identity", "ledger", "organizations", "governance", "loans", "system")
EVENTS, DLQ, COMMANDS, RESULTS = "gx.fabric.events", "gx.projections.dlq", "gx.commands", "gx.command-results"


@dataclass
class Expected:
    """A dead letter the run must find: the record's key, the group (or ``*`` for every group),
    its errorCode, and words its reason must hold."""

    key: str
    projector: str
    code: str
    words: str = ""


@dataclass
class Injected:
    since_ms: int
    paths: dict[str, dict[str, str]] = field(default_factory=dict)  # input -> path -> what happened
    expect: list[Expected] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def cjk(n: int, seed: int) -> str:
    """``n`` random CJK ideographs (3 bytes each in UTF-8, nothing Postgres could compress)."""
    rnd = random.Random(seed)
    return "".join(chr(rnd.randint(0x4E00, 0x9FFF)) for _ in range(n))


# -- the paths ------------------------------------------------------------------------------------
class _Unsent:
    """Where the SDK would send a command that passed its validation (nothing is sent here)."""

    def produce(self, *args: Any, **kwargs: Any) -> None:
        pass


def _sdk(ctype: str, payload: dict[str, Any], tenant: str, rid: str) -> str:
    from gxsdk.produce import produce
    from schemas.errors import PayloadError

    try:
        unsent: Any = _Unsent()
        produce(
            unsent, COMMANDS, tenant_id=tenant, service="chaos", command_type=ctype, request_id=rid, payload=payload
        )
    except PayloadError as e:
        return f"refused by the command model: {_short(str(e))}"
    return "accepted by the command model"


def _raw_command(bootstrap: str, ctype: str, payload: dict[str, Any], key: str, tenant: str, rid: str) -> None:
    """A command produced to gx.commands with no validation, as a service in another language would."""
    from gxsdk.produce import command_producer

    env = {
        "id": str(uuid.uuid4()),
        "tenantId": tenant,
        "service": "chaos",
        "commandType": ctype,
        "requestId": rid,
        "payload": payload,
        "key": key,
        "createdAt": datetime.now(UTC).isoformat(),
        "correlationId": None,
    }
    p = command_producer(bootstrap, **{"message.max.bytes": MAX_RECORD_BYTES})
    headers: Headers = [(h, str(env[h]).encode()) for h in ("id", "commandType", "requestId", "tenantId", "service")]
    p.produce(COMMANDS, key=key.encode(), value=json.dumps(env).encode(), headers=headers)
    if p.flush(30) != 0:
        raise RuntimeError("a raw command was not acknowledged by Kafka")


def _results(bootstrap: str, rids: set[str], since_ms: int, timeout: float = 120) -> dict[str, dict[str, Any]]:
    """The final results on gx.command-results of ``rids`` (requestId -> result)."""
    from confluent_kafka import TopicPartition

    from gxcommon.kafka import Consumer

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"chaos-{uuid.uuid4()}", "enable.auto.commit": False})
    out: dict[str, dict[str, Any]] = {}
    try:
        parts = c.list_topics(RESULTS, timeout=10).topics[RESULTS].partitions
        c.assign(c.offsets_for_times([TopicPartition(RESULTS, p, since_ms) for p in parts], 10))
        end = time.monotonic() + timeout
        while set(out) < rids and time.monotonic() < end:
            for m in c.consume(500, 0.5):
                if m.error():
                    continue
                r = json.loads(m.value() or b"{}")
                if r.get("requestId") in rids and r.get("status") != "SUBMITTED":
                    out[r["requestId"]] = r
    finally:
        c.close()
    return out


def _enqueue(dsn: str, ctype: str, payload: dict[str, Any], tenant: str, rid: str) -> str:
    from gxsdk import enqueue
    from schemas.errors import PayloadError

    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            enqueue(conn, tenant_id=tenant, service="chaos", command_type=ctype, request_id=rid, payload=payload)
    except PayloadError as e:
        return f"refused by the command model: {_short(str(e))}"
    return "enqueued"


def _raw_insert(dsn: str, ctype: str, payload: dict[str, Any], tenant: str, rid: str) -> str:
    """An outbox row written by raw SQL, past the SDK's validation (as an old service would)."""
    from stack.demo import RAW

    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(RAW, (str(uuid.uuid4()), tenant, "svc-legacy", ctype, rid, json.dumps(payload)))
    except psycopg.Error as e:
        return f"refused by Postgres: {_short(str(e))}"
    return "inserted"


def _outbox_final(dsn: str, tenant: str, rids: list[str], timeout: float = 120) -> dict[str, str]:
    end = time.monotonic() + timeout
    while True:
        with psycopg.connect(dsn) as conn:
            rows = conn.execute(
                "SELECT \"requestId\", status::text, coalesce(\"errorCode\", ''), coalesce(error, '')"
                ' FROM "OutboxCommand" WHERE "tenantId" = %s AND "requestId" = ANY(%s)'
                " AND status IN ('CONFIRMED', 'FAILED')",
                (tenant, rids),
            ).fetchall()
        if len(rows) == len(rids) or time.monotonic() > end:
            return {r[0]: f"{r[1]} {r[2]}: {_short(r[3])}" for r in rows}
        time.sleep(0.3)


async def _ledger(fn: str, args: list[str], tenant: str) -> str:
    """Submit straight to the chaincode through the gateway (its own client, no command model)."""
    from gxcommon.fabric_settings import FabricSettings

    f = FabricSettings()
    gw = f.connect()
    try:
        result, status = await gw.submit_and_wait(f.channel, f.chaincode, fn, [tenant, *args])
    except Exception as e:  # the peer refused to endorse (an error the chaincode threw)
        return f"refused by the chaincode: {_short(f'{type(e).__name__}: {e}')}"
    finally:
        await gw.close()
    try:
        rejected = json.loads(result).get("rejected")
    except (ValueError, AttributeError):
        rejected = None
    if rejected:
        return f"refused by the chaincode: {rejected.get('code')}: {_short(str(rejected.get('message')))}"
    return f"committed in block {status.block}"


def _short(text: str, n: int = 200) -> str:
    text = text.replace("\x00", "\\x00").replace("\x1b", "\\x1b")
    return text if len(text) <= n else text[:n] + "..."


def _produce_event(bootstrap: str, name: str, key: str, pad_to: int = 0) -> None:
    """An event envelope as the block publisher writes it, straight onto gx.fabric.events."""
    from gxcommon.kafka import Producer
    from schemas.events import partition_for

    env: dict[str, Any] = {
        "channel": "gxchannel",
        "block": 0,
        "txId": f"chaos-{uuid.uuid4().hex}",
        "txIndex": 0,
        "eventIndex": 0,
        "name": name,
        "payload": {"schemaVersion": 2, "requestId": key, "key": key},
        "commitTime": datetime.now(UTC).isoformat(),
        "schemaVersion": 2,
        "requestId": key,
    }
    raw = json.dumps(env).encode()
    if pad_to:
        env["payload"]["blob"] = "x" * (pad_to - len(raw) - len(', "blob": ""'))
        raw = json.dumps(env).encode()
    p = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": MAX_RECORD_BYTES, "enable.idempotence": True})
    p.produce(EVENTS, key=key.encode(), value=raw, partition=partition_for(key, 6))
    if p.flush(30) != 0:
        raise RuntimeError("an event was not acknowledged by Kafka")


def _user_of(tenant: str, user: str) -> str:
    """Create ``user`` in ``tenant`` through the gateway: the chaincode lets only a user's own
    tenant act on it (OTHER_TENANT otherwise). Raises RuntimeError if it is not committed."""
    said = asyncio.run(
        _ledger(
            "IdentityContract:CreateUser",
            [f"{tenant}-{user}", user, f"{user}@example.com", "Chaos", "User", "MY"],
            tenant,
        )
    )
    if not said.startswith("committed"):
        raise RuntimeError(f"the input's user {user} was not created: {said}")
    return user


# -- the inputs -----------------------------------------------------------------------------------
def bad_inputs(dsn: str, bootstrap: str, tag: str) -> Injected:
    """Every bad input on every path (see the module's doc)."""
    out = Injected(int(time.time() * 1000))
    tenant = f"chaos-inputs-{tag}"
    proposer = _user_of(tenant, f"chaos-proposer-{tag}")
    long_id = cjk(1000, seed=int(tag, 16) % 10**6)
    texts = {"nul-text": f"Ac\x00me {tag}", "control-text": f"Ac\x1bme {tag}"}
    raw_sdk: dict[str, str] = {}  # requestId -> input
    raw_outbox: dict[str, str] = {}
    for name, text in texts.items():
        org = f"chaos-{name}-{tag}"
        payload = {"orgId": org, "name": text, "proposerId": proposer}
        paths = out.paths.setdefault(name, {})
        paths["sdk"] = _sdk("PROPOSE_ORGANIZATION", payload, tenant, f"{tenant}-{name}-sdk")
        rid = f"{tenant}-{name}-raw"
        _raw_command(bootstrap, "PROPOSE_ORGANIZATION", {**payload, "orgId": f"{org}-raw"}, f"{org}-raw", tenant, rid)
        raw_sdk[rid] = name
        paths["outbox"] = _enqueue(dsn, "PROPOSE_ORGANIZATION", payload, tenant, f"{tenant}-{name}-outbox")
        rid = f"{tenant}-{name}-raw-outbox"
        paths["outbox raw"] = _raw_insert(
            dsn, "PROPOSE_ORGANIZATION", {**payload, "orgId": f"{org}-rawdb"}, tenant, rid
        )
        if paths["outbox raw"] == "inserted":
            raw_outbox[rid] = name
        paths["ledger"] = asyncio.run(
            _ledger(
                "OrganizationContract:ProposeOrganization", [f"{tenant}-{name}-ledger", org, text, proposer], tenant
            )
        )
        if paths["ledger"].startswith("committed") and "\x00" in text:  # Postgres stores ESC, not NUL
            out.expect.append(Expected(org, "organizations", "APPLY_ERROR", "NUL"))
    user = {"email": "long@example.com", "firstName": "Long", "lastName": "Id", "country": "BN"}
    paths = out.paths.setdefault("long-id", {})
    paths["sdk"] = _sdk("CREATE_USER", {"userId": long_id, **user}, tenant, f"{tenant}-long-sdk")
    rid = f"{tenant}-long-raw"
    _raw_command(bootstrap, "CREATE_USER", {"userId": long_id, **user}, long_id, tenant, rid)
    raw_sdk[rid] = "long-id"
    paths["outbox"] = _enqueue(dsn, "CREATE_USER", {"userId": long_id, **user}, tenant, f"{tenant}-long-outbox")
    rid = f"{tenant}-long-raw-outbox"
    paths["outbox raw"] = _raw_insert(dsn, "CREATE_USER", {"userId": long_id, **user}, tenant, rid)
    if paths["outbox raw"] == "inserted":
        raw_outbox[rid] = "long-id"
    paths["ledger"] = asyncio.run(
        _ledger("IdentityContract:CreateUser", [f"{tenant}-long-ledger", long_id, *user.values()], tenant)
    )
    if paths["ledger"].startswith("committed"):
        out.expect += [Expected(long_id, g, "APPLY_ERROR", "54000") for g in ("identity", "ledger")]
    big = "x" * (MAX_EVENT_BYTES - 1000)
    paths = out.paths.setdefault("near-size-limit", {})
    org = f"chaos-big-{tag}"
    paths["sdk"] = _sdk(
        "PROPOSE_ORGANIZATION", {"orgId": org, "name": big, "proposerId": proposer}, tenant, f"{tenant}-big"
    )
    paths["outbox"] = _enqueue(
        dsn, "PROPOSE_ORGANIZATION", {"orgId": org, "name": big, "proposerId": proposer}, tenant, f"{tenant}-big-outbox"
    )
    paths["ledger"] = asyncio.run(
        _ledger("OrganizationContract:ProposeOrganization", [f"{tenant}-big-ledger", org, big[:5000], proposer], tenant)
    )
    name = f"GxChaosUnknown{tag}"
    _produce_event(bootstrap, name, f"chaos-big-event-{tag}", MAX_EVENT_BYTES)
    paths["events topic"] = f"{name} at {MAX_EVENT_BYTES} bytes produced straight onto {EVENTS}"
    out.expect.append(Expected(f"chaos-big-event-{tag}", "*", "UNKNOWN_EVENT_TYPE"))
    # What the submitter made of the raw records, and of the raw outbox rows.
    results = _results(bootstrap, set(raw_sdk), out.since_ms)
    for rid, name in raw_sdk.items():
        r = results.get(rid)
        out.paths[name]["sdk raw"] = (
            f"{r['status']} {r.get('errorCode')}: {_short(str(r.get('error')))}" if r else "no result within 120 s"
        )
    for rid, what in _outbox_final(dsn, tenant, list(raw_outbox)).items():
        out.paths[raw_outbox[rid]]["outbox raw"] += f", then {what}"
    return out


def rebuild_bad_event(env: dict[str, str], bootstrap: str, tag: str) -> Injected:
    """A rebuild of the ledger group while an event no group knows arrives."""
    out = Injected(int(time.time() * 1000))
    key = f"chaos-rebuild-event-{tag}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gxctl.main", "projections", "rebuild", "ledger", "--json"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    from gxcommon.settings import connection_settings

    end = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < end:  # the event arrives while it replays
        with psycopg.connect(connection_settings().dsn()) as conn:
            started = conn.execute(
                'SELECT count(*) FROM "ProjectorState" WHERE "projectorName" = %s', ("ledger@rebuild",)
            ).fetchone()
        if started and started[0]:
            break
        time.sleep(0.1)
    _produce_event(bootstrap, f"GxChaosUnknown{tag}", key)
    stdout, stderr = proc.communicate(timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"the rebuild failed: {stderr.strip()[-500:]}")
    done = json.loads(stdout)
    out.paths["rebuild"] = {"ledger": f"{done['records']} records, {done['dead_letters_sent']} dead letter(s) sent"}
    out.expect.append(Expected(key, "*", "UNKNOWN_EVENT_TYPE"))
    return out


def repaired_dead_letter(dsn: str, tag: str) -> Injected:
    """A loan application the read model refuses (a CHECK), dead-lettered, then the CHECK gone: the
    repair before the harness's verify writes it from the ledger."""
    out = Injected(int(time.time() * 1000))
    tenant, loan = f"chaos-repair-{tag}", f"chaos-loan-{tag}"
    borrower = _user_of(tenant, f"chaos-borrower-{tag}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'ALTER TABLE "Loan" ADD CONSTRAINT chaos_refuse_{tag} CHECK ("loanId" <> \'{loan}\')')
    try:
        rid = f"{tenant}-loan"
        _enqueue(dsn, "APPLY_FOR_LOAN", {"loanId": loan, "borrowerId": borrower, "amount": 10}, tenant, rid)
        final = _outbox_final(dsn, tenant, [rid])
        out.paths["loan"] = {"outbox": final.get(rid, "not final within 120 s")}
        _wait_dead(dsn, Expected(loan, "loans", "APPLY_ERROR"), out.since_ms)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'ALTER TABLE "Loan" DROP CONSTRAINT IF EXISTS chaos_refuse_{tag}')
    out.expect.append(Expected(loan, "loans", "APPLY_ERROR", f"chaos_refuse_{tag}"))
    return out


def _wait_dead(dsn: str, e: Expected, since_ms: int, timeout: float = 120) -> None:
    from gxcommon.settings import connection_settings

    end = time.monotonic() + timeout
    while not dead_letters(connection_settings().bootstrap(), [e], since_ms)[0]:
        if time.monotonic() > end:
            raise RuntimeError(f"{e.key} was not dead-lettered by {e.projector} within {timeout:.0f}s")
        time.sleep(0.5)


# -- the checks -----------------------------------------------------------------------------------
def dead_letters(bootstrap: str, expect: list[Expected], since_ms: int) -> tuple[list[str], list[str]]:
    """(found, missing or doubled) of ``expect`` on gx.projections.dlq from ``since_ms`` on."""
    from confluent_kafka import TopicPartition

    from gxcommon.kafka import Consumer

    keys = {e.key for e in expect}
    seen: dict[tuple[str, str], list[dict[str, str]]] = {}
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"chaos-{uuid.uuid4()}", "enable.auto.commit": False})
    try:
        parts = c.list_topics(DLQ, timeout=10).topics[DLQ].partitions
        starts = c.offsets_for_times([TopicPartition(DLQ, p, since_ms) for p in parts], 10)
        ends = {p: c.get_watermark_offsets(TopicPartition(DLQ, p), timeout=10)[1] for p in parts}
        todo = {tp.partition for tp in starts if 0 <= tp.offset < ends[tp.partition]}
        c.assign([tp for tp in starts if tp.partition in todo])
        deadline = time.monotonic() + 60
        while todo and time.monotonic() < deadline:
            for m in c.consume(100, 0.5):
                if m.error():
                    continue
                if (m.offset() or 0) + 1 >= ends[m.partition() or 0]:
                    todo.discard(m.partition() or 0)
                key = (m.key() or b"").decode("utf-8", "replace")
                if key in keys:
                    h = message_headers(m)
                    seen.setdefault((key, h.get("projector", "?")), []).append(h)
    finally:
        c.close()
    found, wrong = [], []
    for e in expect:
        groups = GROUPS if e.projector == "*" else (e.projector,)
        for g in groups:
            got = seen.get((e.key, g), [])
            ok = [h for h in got if h.get("errorCode") == e.code and e.words in h.get("reason", "")]
            what = f"{_short(e.key, 40)} by {g}: {e.code}"
            if len(got) == 1 and ok:
                found.append(f"{what} ({_short(ok[0].get('reason', ''), 120)})")
            else:
                wrong.append(f"{what}: {len(got)} dead letter(s) {[h.get('errorCode') for h in got]}")
    return found, wrong


def lag_zero(dsn: str, bootstrap: str, timeout: float = 180) -> float | None:
    """Seconds until every group's checkpoint is at the last committed record of every partition
    of gx.fabric.events (lag 0); None if not within ``timeout``. Call with no load running."""
    from bench.read_side import last_records, positions

    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            last = last_records(bootstrap, EVENTS)
            have = positions(dsn, EVENTS)
            if all(have.get(g, {}).get(p, (-1, -1))[0] >= o for g in GROUPS for p, o in last.items() if o >= 0):
                return time.monotonic() - t0
        except (psycopg.Error, TimeoutError, RuntimeError):
            pass
        time.sleep(0.5)
    return None


def repair(env: dict[str, str]) -> dict[str, Any]:
    """`gxctl projections repair`: its exit status, and what it wrote."""
    proc = subprocess.run(
        [sys.executable, "-m", "gxctl.main", "projections", "repair", "--json"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    try:
        out = json.loads(proc.stdout)
    except ValueError:
        out = {}
    return {
        "exit": proc.returncode,
        "written": out.get("written"),
        "history": out.get("history"),
        "left": out.get("left"),
        "stderr": proc.stderr.strip()[-500:] if proc.returncode else "",
    }


def inject(name: str, env: dict[str, str], dsn: str, bootstrap: str) -> Injected:
    """Send the input ``name`` (one of INPUTS), each in a tenant of its own with its own users."""
    tag = uuid.uuid4().hex[:8]
    if name == "bad-inputs":
        return bad_inputs(dsn, bootstrap, tag)
    if name == "rebuild-bad-event":
        return rebuild_bad_event(env, bootstrap, tag)
    if name == "repair-dead-letter":
        return repaired_dead_letter(dsn, tag)
    raise ValueError(name)


def settle(injected: Injected, env: dict[str, str], dsn: str, bootstrap: str) -> dict[str, Any]:
    """After the load: every group's lag back to 0, the expected dead letters, then the repair
    (the harness's verify follows). ``ok`` when all three hold."""
    lag = lag_zero(dsn, bootstrap)
    found, wrong = dead_letters(bootstrap, injected.expect, injected.since_ms)
    fixed = repair(env)
    return {
        "ok": lag is not None and not wrong and fixed["exit"] == 0,
        "lag_zero_s": round(lag, 1) if lag is not None else None,
        "dead_letters": found,
        "dead_letters_wrong": wrong,
        "repair": fixed,
        "paths": injected.paths,
    }
