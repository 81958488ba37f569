"""The write path under faults, on the real stack, network and worker processes (issue 20).

Submitters run as real processes (`gxctl run submitter`, Faust's own consumer, commits and
rebalances) and reach the real peer through a gateway proxy (tests/integration/gateway_proxy.py)
that injects the faults: a command held in Fabric, a lost answer to Submit, gateway errors,
Fabric down. One consumer group for the module, so no other submitter takes these commands.
Each test names the item of the issue it proves; each failed on the code before the fix.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from confluent_kafka.admin import NewTopic

from gxcommon.kafka import AdminClient, Producer
from schemas.envelopes import CommandEnvelope
from schemas.examples import example
from tests.integration.conftest import gxctl
from tests.integration.fabric_helpers import CC_ARGS, gateway, user_files
from tests.integration.gateway_proxy import GatewayProxy
from tests.integration.kafka_helpers import (
    Rec,
    TopicReader,
    committed_offset,
    committed_offsets,
    murmur2_partition,
    wait_committed_past,
)
from tests.integration.kafka_helpers import (
    last_offsets as topic_last_offsets,
)
from tests.integration.workers import Worker, start_group_at_end
from tests.integration.write_path import WritePath, balance, ledger_requests, users
from tests.waiting import wait_until

TLS = ("GX_FABRIC_TLS_ROOT", "GX_FABRIC_TLS_CERT", "GX_FABRIC_TLS_KEY", "GX_FABRIC_TLS_SERVER_NAME")


@dataclass
class Faults:
    wp: WritePath
    proxy: GatewayProxy
    started: list[Worker] = field(default_factory=list)  # every worker of the module, stopped at its end

    @property
    def group(self) -> str:
        return f"{self.wp.app_id}-submitter"

    def submitter(self, launch_only: bool = False, **env: str) -> Worker:
        """A submitter process of the module's group, talking to the peer through the proxy."""
        w = Worker(
            "submitter",
            self.wp.app_id,
            self.wp.log_dir,
            unset=TLS,
            GX_FABRIC_GATEWAY=self.proxy.endpoint,
            GX_FABRIC_INSECURE_PLAINTEXT="1",  # the proxy serves plaintext (issue 33 refuses it unless said)
            GX_BREAKER_MAX_PROBE_S="3",
            **env,
        )
        self.wp.submitter = w
        self.started.append(w)
        return w.launch() if launch_only else w.start()

    def users_on(self, partition: int, n: int, prefix: str) -> list[str]:
        """``n`` user ids whose CREATE_USER lands on ``partition`` (the outbox path's murmur2)."""
        out: list[str] = []
        i = 0
        while len(out) < n:
            uid = f"{prefix}-u{i}"
            if murmur2_partition(uid.encode(), 6) == partition:
                out.append(uid)
            i += 1
        return out

    def create_user(self, tenant: str, uid: str, rid: str | None = None) -> str:
        return self.wp.enqueue(
            tenant, "CREATE_USER", {**example("CREATE_USER", uid), "userId": uid}, request_id=rid or f"{tenant}-{uid}"
        )

    def offset_of(self, request_id: str, deadline: float = 60) -> tuple[int, int]:
        """(partition, offset) of a command on gx.commands."""
        r = TopicReader(self.wp.bootstrap, "gx.commands", lambda rec: rec.headers.get("requestId") == request_id)
        try:
            [rec] = r.read_until(lambda rs: bool(rs), deadline)
        finally:
            r.close()
        return rec.partition, rec.offset

    def last_offsets_of(self, request_ids: list[str], deadline: float = 60) -> dict[int, int]:
        """Partition -> the last offset on gx.commands of these commands (each read once)."""
        wanted = set(request_ids)
        with TopicReader(self.wp.bootstrap, "gx.commands", lambda rec: rec.headers.get("requestId") in wanted) as r:
            recs = r.read_until(lambda rs: {x.headers["requestId"] for x in rs} >= wanted, deadline)
        assert {x.headers["requestId"] for x in recs} >= wanted, (
            f"not on gx.commands: {wanted - {x.headers['requestId'] for x in recs}}"
        )
        last: dict[int, int] = {}
        for x in recs:
            last[x.partition] = max(last.get(x.partition, -1), x.offset)
        return last


@pytest.fixture(scope="module")
def faults(pipeline: dict[str, str], tmp_path_factory) -> Iterator[Faults]:
    log_dir = tmp_path_factory.mktemp("write-path-faults")
    app_id = f"gx-test-{uuid.uuid4().hex[:6]}"
    writer = Worker("results-writer", app_id, log_dir).start()
    start_group_at_end(pipeline["GX_KAFKA_BOOTSTRAP"], f"{app_id}-submitter", "gx.commands")
    read = lambda name: Path(os.environ[name]).read_bytes()  # noqa: E731
    proxy = GatewayProxy(
        os.environ["GX_FABRIC_GATEWAY"],
        read("GX_FABRIC_TLS_ROOT"),
        os.environ.get("GX_FABRIC_TLS_SERVER_NAME"),
        read("GX_FABRIC_TLS_CERT") if os.environ.get("GX_FABRIC_TLS_CERT") else None,
        read("GX_FABRIC_TLS_KEY") if os.environ.get("GX_FABRIC_TLS_KEY") else None,
    ).start()
    idle = Worker("submitter", app_id, log_dir)  # never started: each test's own takes its place (Faults.submitter)
    f = Faults(WritePath(pipeline["GX_PG_DSN"], pipeline["GX_KAFKA_BOOTSTRAP"], app_id, log_dir, idle, writer), proxy)
    yield f
    for w in f.started:
        w.stop()
    writer.stop()
    proxy.stop()


@pytest.fixture
def submitter(faults: Faults) -> Iterator[Worker]:
    """One proxied submitter for the test, stopped (and the proxy's faults cleared) after it."""
    w = faults.submitter()
    yield w
    faults.proxy.clear()
    w.stop()


def last_offsets(rows: Iterable[dict]) -> dict[int, int]:
    """Partition -> the last offset on gx.commands of the commands whose outbox ``rows`` are given."""
    last: dict[int, int] = {}
    for r in rows:
        last[r["kafkaPartition"]] = max(last.get(r["kafkaPartition"], -1), r["kafkaOffset"])
    return last


def finals_on_results_topic(
    faults: Faults, tenant: str, commands: Mapping[int, int], topic: str = "gx.command-results"
) -> dict[str, list[str]]:
    """Every final status published per requestId of ``tenant``. Once the submitters' group has
    committed past the tenant's ``commands`` (partition -> last offset on gx.commands), none of
    them is submitted again, and a result is published before its command is committed: reading
    the results topic to its end then shows every result they will ever have, twice if twice."""
    wait_committed_past(faults.wp.bootstrap, faults.group, "gx.commands", commands)

    def final_of_tenant(rec: Rec) -> bool:
        return (
            isinstance(rec.value, dict)
            and rec.value.get("tenantId") == tenant
            and rec.value.get("status") != "SUBMITTED"
        )

    with TopicReader(faults.wp.bootstrap, topic, final_of_tenant) as r:
        got = r.read_to_end()
    out: dict[str, list[str]] = {}
    for rec in got:
        out.setdefault(rec.value["requestId"], []).append(rec.value["status"])
    return out


def test_item1_a_sigkill_while_a_command_is_held_loses_nothing(faults: Faults) -> None:
    """The committed offset never passes a command in flight: 5 commands done and committed, then
    one held in Fabric while 20 after it on the same partition finish; Faust used to commit past
    the held one (its off-by-one), so after a SIGKILL nothing ever retried it."""
    sub = faults.submitter()
    t = f"f1-{uuid.uuid4().hex[:6]}"
    partition = 2
    warm, rest = faults.users_on(partition, 5, f"{t}w"), faults.users_on(partition, 20, f"{t}r")
    for uid in warm:
        faults.create_user(t, uid)
    rows = faults.wp.wait_final(t, 5)
    assert {r["kafkaPartition"] for r in rows.values()} == {partition}  # murmur2 agrees with Connect
    wait_committed_past(faults.wp.bootstrap, faults.group, "gx.commands", last_offsets(rows.values()), 30)
    held = f"{t}-held"
    faults.proxy.hold(held)
    faults.create_user(t, faults.users_on(partition, 1, f"{t}h")[0], held)
    for uid in rest:
        faults.create_user(t, uid)
    _, held_offset = faults.offset_of(held)
    wait_until(
        lambda: sum(r["status"] == "CONFIRMED" for r in faults.wp.rows(t).values()),
        "the 20 commands after the held one (and the 5 before) to finish",
        until=lambda n: n >= 25,
        timeout=120,
        interval=0.5,
    )
    # Faust commits every partition's offsets together, every second. A command on another
    # partition, enqueued now and committed, shows a commit made after the 20 finished: had it
    # passed the held command on this one, it would have then.
    other = next(p for p in range(6) if p != partition)
    sentinel = faults.create_user(t, faults.users_on(other, 1, f"{t}s")[0])
    wait_committed_past(faults.wp.bootstrap, faults.group, "gx.commands", dict([faults.offset_of(sentinel)]), 60)
    committed = committed_offset(faults.wp.bootstrap, faults.group, "gx.commands", partition)
    assert committed is not None and committed <= held_offset, (
        f"offset {committed} committed past the held command at {held_offset}"
    )
    sub.kill()
    faults.proxy.release(held)
    again = faults.submitter()
    try:
        rows = faults.wp.wait_final(t, 27, timeout=120)
    finally:
        again.stop()
    assert {r["status"] for r in rows.values()} == {"CONFIRMED"}


def test_item2_rebalance_and_shutdown_with_fabric_down_are_bounded_and_exact(faults: Faults) -> None:
    """With Fabric down the breaker is open and nothing finishes. A second member joining must get
    its partitions in bounded time (Faust used to wait, without a deadline, for every taken record
    before revoking, until the group evicted the member), the first must stop in bounded time,
    and once Fabric is back every command has exactly one final result."""
    t = f"f2-{uuid.uuid4().hex[:6]}"
    faults.proxy.down = True
    a = faults.submitter()
    b = None
    try:
        for i in range(12):
            faults.create_user(t, f"{t}-u{i}")
        wait_until(
            lambda: a.metric("circuit_breaker_state", {"name": "fabric"}),
            "the breaker open",
            until=lambda state: state == 1,
            timeout=90,
            interval=0.5,
        )
        t0 = time.monotonic()
        b = faults.submitter(launch_only=True)
        members = (a, b)
        wait_until(
            lambda: [w.command_partitions() for w in members],
            "the second member to get its partitions (in 30 s)",
            until=lambda parts: all(parts) and sum(map(len, parts)) == 6,
            timeout=30,
            interval=0.3,
        )
        rebalance_s = time.monotonic() - t0
        t1 = time.monotonic()
        assert a.proc is not None
        a.proc.terminate()
        a.proc.wait(30)
        shutdown_s = time.monotonic() - t1
        assert shutdown_s < 15, f"the submitter took {shutdown_s:.0f} s to stop with Fabric down"
        wait_until(
            b.command_partitions,
            "the remaining member to take every partition",
            until=lambda p: len(p) == 6,
            timeout=60,
            interval=0.3,
        )
        faults.proxy.down = False
        rows = faults.wp.wait_final(t, 12, timeout=120)
        assert {r["status"] for r in rows.values()} == {"CONFIRMED"}
        finals = finals_on_results_topic(faults, t, last_offsets(rows.values()))
        assert finals == {rid: ["CONFIRMED"] for rid in rows}, "a command finished twice, or not at all"
        print(f"rebalance {rebalance_s:.1f} s, shutdown {shutdown_s:.1f} s")
    finally:
        faults.proxy.down = False
        a.stop()
        if b is not None:
            b.stop()


def test_item3_a_lost_submit_answer_ends_confirmed_with_the_transaction_that_committed(
    faults: Faults, submitter: Worker
) -> None:
    """Submit's answer is lost (the transaction reached the orderer and commits), and the gateway
    then refuses every new endorsement: the command must end CONFIRMED with the first
    transaction, not FAILED while the ledger has applied it."""
    t = f"f3-{uuid.uuid4().hex[:6]}"
    rid = f"{t}-lost"
    faults.proxy.lose_submit_answer(rid, grpc.StatusCode.DEADLINE_EXCEEDED)
    faults.proxy.fail_endorse(rid, grpc.StatusCode.INVALID_ARGUMENT, skip=1)
    faults.create_user(t, f"{t}-u", rid)
    row = faults.wp.wait_final(t, 1)[rid]
    assert row["status"] == "CONFIRMED", row
    outcomes = [a["outcome"] for a in row["attemptLog"]]
    assert outcomes[0] == "RETRYABLE" and outcomes[-1] == "COMMITTED"
    assert row["attemptLog"][0]["txId"] == row["fabricTxId"]  # the transaction whose answer was lost


def test_item3_a_dlq_replay_corrects_a_command_that_ran_out_of_attempts(faults: Faults, submitter: Worker) -> None:
    """Every endorsement refused until the attempts run out: FAILED (RETRIES_EXHAUSTED) and
    dead-lettered. The operator replays the dead letter once the gateway is fine: the outbox row
    becomes CONFIRMED (the results writer used to refuse to move a FAILED row)."""
    t = f"f3b-{uuid.uuid4().hex[:6]}"
    rid = f"{t}-x"
    faults.proxy.fail_endorse(rid, grpc.StatusCode.INVALID_ARGUMENT)
    faults.create_user(t, f"{t}-u", rid)
    row = faults.wp.wait_final(t, 1)[rid]
    assert (row["status"], row["errorCode"]) == ("FAILED", "RETRIES_EXHAUSTED"), row
    dlq = TopicReader(faults.wp.bootstrap, "gx.commands.dlq", lambda r: r.headers.get("requestId") == rid)
    try:
        [dead] = dlq.read_until(lambda rs: bool(rs), 60)
    finally:
        dlq.close()
    faults.proxy.clear()
    replay = gxctl("dlq", "replay", str(dead.partition), str(dead.offset), check=False)
    assert replay.returncode == 0, replay.stderr
    row = wait_until(
        lambda: faults.wp.rows(t)[rid],
        "the replay to correct the row",
        until=lambda row: row["status"] == "CONFIRMED",
        timeout=60,
        interval=0.5,
    )
    assert row["fabricTxId"] and row["errorCode"] is None
    assert faults.wp.writer.metric("results_writer_corrections_total", {"from_error_code": "RETRIES_EXHAUSTED"}) >= 1


def test_item5_results_that_cannot_be_published_wait_and_go_out_when_the_topic_is_back(
    faults: Faults, pipeline: dict[str, str]
) -> None:
    """The results topic does not exist (unavailable past the producer's timeout): the commands
    keep their slots, readiness says so, and when the topic appears every result goes out once.
    Before, each such command was left unacknowledged for good."""
    t = f"f5-{uuid.uuid4().hex[:6]}"
    topic = f"gx.test-results-{uuid.uuid4().hex[:6]}"
    sub = faults.submitter(GX_TOPIC_COMMAND_RESULTS=topic)
    try:
        rids = [faults.create_user(t, f"{t}-u{i}") for i in range(5)]
        wait_until(
            sub.ready,
            "readiness to report the unpublished results",
            until=lambda r: "failed to publish" in json.dumps(r[1]),
            timeout=120,
            interval=1,
        )
        # The gauge follows the same state every half second; stalled 10 s, then.
        wait_until(
            lambda: sub.metric("submitter_publish_stalled_seconds"),
            "the publish-stalled gauge past 10 s",
            until=lambda s: s >= 10,
            timeout=20,
        )
        admin = AdminClient({"bootstrap.servers": pipeline["GX_KAFKA_BOOTSTRAP"]})
        admin.create_topics([NewTopic(topic, 6, 1)])[topic].result(30)
        # Each result goes out once, then its command is committed; read the topic to its end after.
        finals = finals_on_results_topic(faults, t, faults.last_offsets_of(rids), topic)
        assert finals == {rid: ["CONFIRMED"] for rid in rids}
        assert sub.alive()
        wait_until(sub.ready, "readiness back to 200", until=lambda r: r[0] == 200, timeout=30, interval=0.5)
    finally:
        sub.stop()
        AdminClient({"bootstrap.servers": pipeline["GX_KAFKA_BOOTSTRAP"]}).delete_topics([topic])


def test_item6_a_held_command_holds_only_its_own_key(faults: Faults, submitter: Worker) -> None:
    """One command held in Fabric; 300 commands of other keys after it on the same partition all
    finish (the old window of 80 counted finished commands until the held one finished)."""
    t = f"f6-{uuid.uuid4().hex[:6]}"
    partition = 4
    held = f"{t}-held"
    faults.proxy.hold(held)
    faults.create_user(t, faults.users_on(partition, 1, f"{t}h")[0], held)
    for uid in faults.users_on(partition, 300, f"{t}o"):
        faults.create_user(t, uid)
    rows = wait_until(
        lambda: faults.wp.rows(t),
        "the 300 commands after the held one to finish",
        until=lambda rows: sum(r["status"] == "CONFIRMED" for r in rows.values()) == 300,
        timeout=180,
        interval=1,
        detail=lambda: f"{sum(r['status'] == 'CONFIRMED' for r in faults.wp.rows(t).values())} of 300 finished",
    )
    assert rows[held]["status"] == "PENDING"
    faults.proxy.release(held)
    assert faults.wp.wait_final(t, 301)[held]["status"] == "CONFIRMED"


def test_item7_infrastructure_errors_are_retried_and_counted_not_final(faults: Faults, submitter: Worker) -> None:
    """ABORTED for a peer connection failure, PERMISSION_DENIED (an expired certificate), NOT_FOUND
    (a chaincode being upgraded): retried and counted by the breaker. Each used to FAIL at once."""
    t = f"f7-{uuid.uuid4().hex[:6]}"
    cases = {
        f"{t}-aborted": (
            grpc.StatusCode.ABORTED,
            2,
            (
                "rpc error: code = Unavailable desc = connection error: "
                "dial tcp 127.0.0.1:7051: connect: connection refused",
            ),
        ),
        f"{t}-denied": (grpc.StatusCode.PERMISSION_DENIED, 1, ()),
        f"{t}-notfound": (grpc.StatusCode.NOT_FOUND, 1, ()),
    }
    before = submitter.metric("circuit_breaker_failures_total", {"name": "fabric"})
    for i, (rid, (code, times, details)) in enumerate(cases.items()):
        faults.proxy.fail_endorse(rid, code, times, details=details)
        faults.create_user(t, f"{t}-u{i}", rid)
    rows = faults.wp.wait_final(t, 3)
    assert {rid: (r["status"], r["attempts"]) for rid, r in rows.items()} == {
        rid: ("CONFIRMED", times + 1) for rid, (_, times, _) in cases.items()
    }
    assert submitter.metric("circuit_breaker_failures_total", {"name": "fabric"}) == before + 4


def test_issue30_defect1_a_rejection_whose_submit_answer_was_lost_ends_failed_with_the_ledgers_rejection(
    faults: Faults, submitter: Worker
) -> None:
    """An over-balance transfer: the chaincode records its rejection in the transaction, whose
    Submit answer is lost (it reaches the orderer and commits). The next attempt finds that
    transaction VALID: the row must say what the ledger recorded (FAILED, CHAINCODE_REJECTED, the
    chaincode's words, that transaction), not CONFIRMED (reported from the transaction id alone)."""
    t = f"d1-{uuid.uuid4().hex[:6]}"
    alice, bob = users(2, t, amount=10)  # the transfer's tenant owns its wallets (issue 31)
    rid = f"{t}-over"
    faults.proxy.lose_submit_answer(rid, grpc.StatusCode.UNAVAILABLE)
    faults.wp.enqueue(t, "TRANSFER_TOKENS", {"fromWalletId": alice, "toWalletId": bob, "amount": 11}, request_id=rid)
    row = faults.wp.wait_final(t, 1)[rid]
    assert (row["status"], row["errorCode"]) == ("FAILED", "CHAINCODE_REJECTED"), row
    assert row["error"] == f"INSUFFICIENT_FUNDS: insufficient balance in wallet {alice}: has 10, needs 11"
    first_tx = row["attemptLog"][0]["txId"]  # the transaction whose Submit answer was lost
    assert row["fabricTxId"] == first_tx and row["commitBlock"], row
    assert [a["outcome"] for a in row["attemptLog"]] == ["RETRYABLE", "COMMITTED"]
    assert balance(alice) == 10 and balance(bob) == 0


def on_delivery(into: list, err: object, msg: object) -> None:
    into.append((err, msg))


def envelope(tenant: str, rid: str, uid: str, **extra: object) -> bytes:
    """A valid CREATE_USER envelope, as the SDK writes it (``extra`` fields make it invalid)."""
    env = CommandEnvelope(
        id=f"id-{rid}",
        tenantId=tenant,
        service="svc-test",
        commandType="CREATE_USER",
        requestId=rid,
        payload={**example("CREATE_USER", uid), "userId": uid},
        key=uid,
        createdAt=datetime.now(UTC),
    )
    return json.dumps({**env.model_dump(mode="json"), **extra}, separators=(",", ":")).encode()


def test_issue30_defect2_records_that_cannot_be_handled_are_dead_lettered_and_their_partition_flows_on(
    faults: Faults, submitter: Worker
) -> None:
    """Hostile records produced straight to gx.commands (the SDK path lets any bytes in), each
    followed by a good command on the same partition: a key that is not UTF-8, no key, a value
    that is not JSON, a header that is not UTF-8, a record near the size limit. Each is
    dead-lettered with its partition, offset and reason, every good command is CONFIRMED, the
    agent is never restarted and the group commits past all of them. The key that is not UTF-8
    used to crash the agent (UnicodeDecodeError, restarted by Faust's supervisor) and be committed
    past with no result and no dead letter."""
    t = f"d2-{uuid.uuid4().hex[:6]}"
    partition = 3
    headers = lambda rid: [("id", f"id-{rid}"), ("requestId", rid), ("tenantId", t)]  # noqa: E731
    hostile: dict[str, tuple[bytes | None, bytes, list, str]] = {  # rid -> key, value, headers, errorCode
        f"{t}-key": (b"\xff\xfe\x80usr", envelope(t, f"{t}-key", f"{t}-k"), headers(f"{t}-key"), "INVALID_KEY"),
        f"{t}-nokey": (None, envelope(t, f"{t}-nokey", f"{t}-n"), headers(f"{t}-nokey"), "INVALID_KEY"),
        f"{t}-json": (b"usr-json", b'{"id": "x", not json', headers(f"{t}-json"), "INVALID_ENVELOPE"),
        f"{t}-hdr": (
            b"usr-hdr",
            envelope(t, f"{t}-hdr", f"{t}-h"),
            [*headers(f"{t}-hdr"), ("service", b"\xc3\x28\xff")],
            "INVALID_HEADERS",
        ),
        # Just under what a producer takes (1,000,000 bytes): a dead letter of it, with the
        # headers that say why, would be over the limit (and retried for ever).
        f"{t}-big": (
            b"usr-big",
            envelope(t, f"{t}-big", f"{t}-b", padding="x" * (999_600 - len(envelope(t, f"{t}-big", f"{t}-b")) - 13)),
            headers(f"{t}-big"),
            "RECORD_TOO_LARGE",
        ),
    }
    producer = Producer({"bootstrap.servers": faults.wp.bootstrap})
    goods = faults.users_on(partition, len(hostile), f"{t}g")
    where: dict[str, int] = {}  # rid -> its offset on the partition
    for (rid, (key, value, hdrs, _)), uid in zip(hostile.items(), goods):
        delivered: list = []
        producer.produce(
            "gx.commands",
            key=key,
            value=value,
            headers=hdrs,
            partition=partition,
            on_delivery=functools.partial(on_delivery, delivered),
        )
        assert producer.flush(30) == 0 and delivered[0][0] is None, delivered
        where[rid] = delivered[0][1].offset()
        good = faults.create_user(t, uid)
        p, _ = faults.offset_of(good)  # on gx.commands after the hostile record
        assert p == partition
    rows = faults.wp.wait_final(t, len(goods))
    assert {r["status"] for r in rows.values()} == {"CONFIRMED"}
    assert {r["kafkaPartition"] for r in rows.values()} == {partition}
    assert min(r["kafkaOffset"] for r in rows.values()) > min(where.values())
    offsets = set(where.values())
    with TopicReader(
        faults.wp.bootstrap,
        "gx.commands.dlq",
        lambda r: (
            r.headers.get("sourcePartition") == str(partition) and int(r.headers.get("sourceOffset", -1)) in offsets
        ),
    ) as dlq:
        dead = dlq.read_until(lambda rs: len(rs) >= len(hostile), 60)
    got = {int(d.headers["sourceOffset"]): d for d in dead}
    assert sorted(got) == sorted(offsets), f"dead-lettered: {sorted(got)}, hostile at {sorted(offsets)}"
    for rid, (_key, _value, _h, code) in hostile.items():
        d = got[where[rid]]
        assert (d.headers["errorCode"], d.headers["sourceTopic"]) == (code, "gx.commands"), d.headers
        assert d.headers["reason"], d.headers
    assert "not UTF-8" in got[where[f"{t}-key"]].headers["reason"]
    assert "no key" in got[where[f"{t}-nokey"]].headers["reason"]
    assert "service" in got[where[f"{t}-hdr"]].headers["reason"]
    big = got[where[f"{t}-big"]]
    assert "over the 131072 bytes a command can take" in big.headers["reason"], big.headers
    assert big.headers["valueOmitted"] == str(len(hostile[f"{t}-big"][1])) and big.raw == b""  # read it at its source
    # The agent ran throughout: started once, never restarted by Faust's supervisor.
    assert submitter.metric("submitter_agent_starts_total") == 1
    assert "UnicodeDecodeError" not in submitter.log()
    # Committed past every one of them (and the good ones after).
    last = max(max(where.values()), max(r["kafkaOffset"] for r in rows.values()))
    wait_committed_past(faults.wp.bootstrap, faults.group, "gx.commands", {partition: last}, 60)


def test_issue30_defect6_a_full_partition_is_paused_alone_and_every_command_of_it_ends_exactly_once(
    faults: Faults,
) -> None:
    """Back-pressure per partition. One command held in Fabric on partition 5, and 200 records
    behind it there: its window (4 in flight, a span of 16) and its backlog (16) fill. Commands on
    the other partitions must go on meanwhile; the agent used to block on the full backlog, so
    every partition stopped. Faust's stream buffer and fetch batches are made small, so the
    partition is paused (through Faust) while its records are in flight: once the held command is
    released every command of the partition ends CONFIRMED exactly once (nothing skipped by the
    pause, nothing taken twice after the seek that resumes it), as the ledger records, and the
    group commits to the end of every partition."""
    sub = faults.submitter(
        GX_SUBMIT_WINDOW="4",
        GX_SUBMIT_SPAN="16",
        GX_SUBMIT_BACKLOG="16",
        STREAM_BUFFER_MAXSIZE="32",
        BROKER_MAX_POLL_RECORDS="20",
        GX_MAX_ATTEMPTS="20",  # the held command's endorsements time out (15 s each) until it is released
    )
    t = f"d6-{uuid.uuid4().hex[:6]}"
    full, n = 5, 200
    held = f"{t}-held"
    try:
        faults.proxy.hold(held)
        faults.create_user(t, faults.users_on(full, 1, f"{t}h")[0], held)
        behind = [faults.create_user(t, uid) for uid in faults.users_on(full, n, f"{t}b")]
        wait_until(
            lambda: sub.metric("submitter_backlog"),
            "partition 5's backlog full",
            until=lambda b: b >= 16,
            timeout=90,
            interval=0.5,
        )
        others = [faults.create_user(t, uid) for p in (0, 1, 2, 3, 4) for uid in faults.users_on(p, 3, f"{t}o{p}")]
        t0 = time.monotonic()
        wait_until(
            lambda: faults.wp.rows(t),
            "the other partitions' commands CONFIRMED while partition 5 is full",
            until=lambda rows: all(rows.get(rid, {}).get("status") == "CONFIRMED" for rid in others),
            timeout=60,
            interval=0.5,
            detail=lambda: f"backlog {sub.metric('submitter_backlog')}; log:\n{sub.log()[-2000:]}",
        )
        print(f"the other partitions went on: their 15 commands CONFIRMED in {time.monotonic() - t0:.1f} s")
        assert faults.wp.rows(t)[held]["status"] == "PENDING"
        assert sub.metric("submitter_partition_pauses_total") >= 1  # paused through Faust, not by waiting
        assert sub.metric("submitter_partitions_paused") == 1
        faults.proxy.release(held)
        rows = faults.wp.wait_final(t, 1 + n + len(others), timeout=180)
        assert {r["status"] for r in rows.values()} == {"CONFIRMED"}
        assert sub.metric("submitter_partition_resumes_total") >= 1
        assert sub.metric("submitter_partitions_paused") == 0
        # Exactly once: one final result per command on the results topic, and the ledger's records
        # are the outbox's rows, each applied.
        finals = finals_on_results_topic(faults, t, last_offsets(rows.values()))
        assert finals == {rid: ["CONFIRMED"] for rid in rows}, {k: v for k, v in finals.items() if v != ["CONFIRMED"]}
        recorded = ledger_requests(t)
        assert sorted(r["requestId"] for r in recorded) == sorted(rows)
        assert not [r for r in recorded if r.get("rejected")]
        assert {rows[r["requestId"]]["fabricTxId"] for r in recorded} == {r["txId"] for r in recorded}
        # The group's committed offsets are the partitions' ends.
        ends = {p: o + 1 for p, o in topic_last_offsets(faults.wp.bootstrap, "gx.commands").items()}
        wait_until(
            lambda: committed_offsets(faults.wp.bootstrap, faults.group, "gx.commands", ends),
            "the committed offsets at the partitions' ends",
            until=lambda got: got == ends,
            timeout=30,
            interval=0.5,
        )
        assert sub.metric("submitter_agent_starts_total") == 1
        assert set(behind) <= set(rows)
    finally:
        faults.proxy.clear()
        sub.stop()


def set_grant(user: str, scope: str | None) -> None:
    """The chaincode's operator (Org1's Admin) grants ``user`` the scope, or revokes it (None)."""

    async def go() -> None:
        cert = user_files(user)[0].read_text()
        async with gateway("Admin") as admin:
            if scope is None:
                await admin.submit_and_wait(*CC_ARGS, "AdminContract:RevokeSubmitter", ["Org1MSP", cert])
            else:
                await admin.submit_and_wait(*CC_ARGS, "AdminContract:GrantSubmitter", ["Org1MSP", cert, scope])

    asyncio.run(go())


def test_issue30_defect3_a_submitter_without_a_grant_retries_dead_letters_and_a_replay_after_the_grant_confirms(
    faults: Faults,
) -> None:
    """A submitter whose identity (User2) the chaincode's operator never granted: the chaincode
    throws FORBIDDEN and records nothing. Not the ledger's answer: each command is retried, counted,
    said on /readyz, then FAILED as CHAINCODE_REFUSED and dead-lettered, with nothing on the ledger.
    Once the grant is given, `gxctl dlq replay` brings each one to CONFIRMED. They used to end
    FAILED as CHAINCODE_REJECTED after one attempt, with no dead letter (so nothing to replay)."""
    t = f"d3-{uuid.uuid4().hex[:6]}"
    cert, key = user_files("User2")
    set_grant("User2", None)
    # Both of the submitter's identities (issue 31: user-level commands such as CREATE_USER are
    # signed by GX_FABRIC_COMMANDS_CERT/KEY, which the stack sets to User3, granted).
    sub = faults.submitter(
        GX_FABRIC_CERT=str(cert),
        GX_FABRIC_KEY=str(key),
        GX_FABRIC_COMMANDS_CERT=str(cert),
        GX_FABRIC_COMMANDS_KEY=str(key),
    )
    try:
        rids = [faults.create_user(t, f"{t}-u{i}") for i in range(3)]
        rows = faults.wp.wait_final(t, 3)
        for rid in rids:
            row = rows[rid]
            assert (row["status"], row["errorCode"], row["attempts"]) == ("FAILED", "CHAINCODE_REFUSED", 5), row
            assert "FORBIDDEN" in row["error"] and "User2" in row["error"], row["error"]
            assert [a["outcome"] for a in row["attemptLog"]] == ["CHAINCODE_REFUSED"] * 5
        assert sub.metric("submitter_chaincode_refusals_total", {"code": "FORBIDDEN"}) == 15
        assert sub.metric("circuit_breaker_state", {"name": "fabric"}) == 0  # Fabric answered
        code, body = sub.ready()
        assert code == 503 and "CHAINCODE_REFUSED" in body["checks"]["chaincode"], body
        assert ledger_requests(t) == []  # nothing recorded: a later delivery may still apply them
        with TopicReader(faults.wp.bootstrap, "gx.commands.dlq", lambda r: r.headers.get("tenantId") == t) as dlq:
            dead = dlq.read_until(lambda rs: len(rs) >= 3, 60)
        assert sorted((d.headers["requestId"], d.headers["errorCode"]) for d in dead) == [
            (rid, "CHAINCODE_REFUSED") for rid in sorted(rids)
        ]
        set_grant("User2", "commands")
        for d in dead:
            replay = gxctl("dlq", "replay", str(d.partition), str(d.offset), check=False)
            assert replay.returncode == 0, replay.stderr
        rows = wait_until(
            lambda: faults.wp.rows(t),
            "the replays to correct the rows",
            until=lambda rows: all(r["status"] == "CONFIRMED" for r in rows.values()),
            timeout=90,
            interval=0.5,
        )
        assert all(r["fabricTxId"] and r["errorCode"] is None for r in rows.values())
        recorded = ledger_requests(t)
        assert sorted(r["requestId"] for r in recorded) == sorted(rids) and not [
            r for r in recorded if r.get("rejected")
        ]
        wait_until(sub.ready, "readiness back once commands commit", until=lambda r: r[0] == 200, timeout=30)
    finally:
        set_grant("User2", None)
        sub.stop()
