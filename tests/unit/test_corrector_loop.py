"""The corrector's loop (streams.corrector.Corrector) against a scripted consumer, a table of
outbox rows and a recording producer: a correction is published before any offset past its event
is committed; an event whose row is not final holds its partition's commits back (so a restart
reads it again) until the row is final; a correction Kafka did not take is tried again; one query
per check, whatever the number of events."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from schemas.envelopes import CommandResult
from streams.corrections import OutboxRow
from streams.corrector import Corrector

TOPIC = "gx.fabric.events"


class Msg:
    def __init__(self, partition: int, offset: int, headers: dict[str, bytes]) -> None:
        self._p, self._o, self._h = partition, offset, headers

    def error(self) -> None:
        return None

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def headers(self) -> list[tuple[str, bytes]]:
        return list(self._h.items())

    def value(self) -> bytes:
        return b"{}"


def event(offset: int, rid: str, tx: str, partition: int = 0, tenant: str = "acme") -> Msg:
    return Msg(
        partition, offset, {"txId": tx.encode(), "block": b"40", "requestId": rid.encode(), "tenantId": tenant.encode()}
    )


class Consumer:
    """Each consume() takes the next scripted step: records, or a callable run inside consume (a
    change of the rows, a rebalance callback)."""

    def __init__(self, log: list[Any], script: list[Any], loop: Callable[[], Corrector]) -> None:
        self.log, self.script, self.loop = log, script, loop
        self.cb: dict[str, Any] = {}
        self.paused: list[int] = []

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.cb = callbacks

    def consume(self, n: int, wait: float) -> list[Msg]:
        if not self.script:
            self.loop().stop()
            return []
        step = self.script.pop(0)
        if callable(step):
            step(self)
            return []
        return list(step)

    def commit(self, offsets: list[Any], asynchronous: bool) -> None:
        self.log.append(("commit", {tp.partition: tp.offset for tp in offsets}))

    def assignment(self) -> list[Any]:
        from confluent_kafka import TopicPartition

        return [TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)]

    def pause(self, tps: list[Any]) -> None:
        self.log.append(("pause", sorted(tp.partition for tp in tps)))

    def resume(self, tps: list[Any]) -> None:
        self.log.append(("resume", sorted(tp.partition for tp in tps)))

    def get_watermark_offsets(self, tp: Any, cached: bool = False) -> tuple[int, int]:
        return (0, 100)

    def position(self, tps: list[Any]) -> list[Any]:
        return tps

    def close(self) -> None:
        self.log.append(("close",))


class Outbox:
    """The rows by (tenant, requestId); each lookup is logged as one query."""

    def __init__(self, log: list[Any], rows: list[OutboxRow]) -> None:
        self.log = log
        self.rows = {(r.tenant, r.request_id): r for r in rows}

    def __call__(self, keys: Collection[tuple[str | None, str]]) -> list[OutboxRow]:
        self.log.append(("query", len(keys)))
        return [r for (t, rid), r in self.rows.items() if (t, rid) in keys or (None, rid) in keys]

    def set(self, status: str, rid: str, code: str | None = "RETRIES_EXHAUSTED") -> Callable[[Any], None]:
        def change(_: Any) -> None:
            r = self.rows[("acme", rid)]
            self.rows[("acme", rid)] = OutboxRow(
                r.id, r.tenant, r.request_id, r.key, status, code, r.tx_ids, r.attempts
            )

        return change


class Producer:
    def __init__(self, log: list[Any], refuse: int = 0) -> None:
        self.log, self.refuse = log, refuse

    def __call__(self, results: list[CommandResult]) -> list[bool]:
        out = []
        for r in results:
            ok = self.refuse <= 0
            self.refuse -= 1
            self.log.append(("publish" if ok else "not delivered", r.requestId, r.fabricTxId, r.commitBlock))
            out.append(ok)
        return out


def row(rid: str, status: str, txs: tuple[str, ...] = ("tx-1",)) -> OutboxRow:
    return OutboxRow(f"id-{rid}", "acme", rid, "k", status, None, frozenset(txs), 3)


def test_a_row_failed_after_its_transaction_committed_is_corrected_and_only_then_committed_past() -> None:
    rows = [row("late", "PENDING"), row("other", "CONFIRMED")]
    log: list[Any] = []
    box: list[Corrector] = []
    outbox = Outbox(log, rows)
    script = [
        [event(10, "late", "tx-1"), event(11, "other", "tx-5")],
        [event(12, "nobody", "tx-6")],
        outbox.set("FAILED", "late"),
        [],
    ]
    consumer = Consumer(log, script, lambda: box[0])
    loop = Corrector(consumer, outbox, Producer(log), TOPIC, "g", check_s=0.0)
    box.append(loop)
    loop.run()
    assert [e for e in log if e[0] != "close"] == [
        ("query", 2),  # "late" waits (its row is not final): nothing committed past it
        ("query", 2),
        ("query", 1),
        ("publish", "late", "tx-1", 40),
        ("commit", {0: 13}),
    ]
    assert loop.error is None and len(loop.watch) == 0


def test_a_correction_kafka_did_not_take_is_tried_again_and_nothing_is_committed_past_it_meanwhile() -> None:
    log: list[Any] = []
    box: list[Corrector] = []
    outbox = Outbox(log, [row("r", "FAILED")])
    consumer = Consumer(log, [[event(0, "r", "tx-1"), event(1, "x", "tx-9")], [], []], lambda: box[0])
    loop = Corrector(consumer, outbox, Producer(log, refuse=1), TOPIC, "g", check_s=0.0)
    box.append(loop)
    loop.run()
    assert [e for e in log if e[0] != "close"] == [
        ("query", 2),
        ("not delivered", "r", "tx-1", 40),
        ("query", 1),
        ("publish", "r", "tx-1", 40),
        ("commit", {0: 2}),
    ]


def test_a_transaction_the_row_never_sent_is_waited_for_never_corrected_and_flagged_when_given_up() -> None:
    """A replay's CONFIRMED may be on its way (it settles the event); if the row still does not
    name the transaction when the watch ends, it is counted as unproven; a row still not final
    then, as given up."""
    from streams import corrector

    log: list[Any] = []
    box: list[Corrector] = []
    now = [0.0]
    rows = [row("r", "FAILED", txs=("tx-1",)), row("q", "FAILED", txs=("tx-1",)), row("p", "PENDING")]
    outbox = Outbox(log, rows)

    def replayed(_: Any) -> None:
        outbox.rows[("acme", "q")] = row("q", "CONFIRMED", txs=("tx-2",))
        now[0] = 101.0

    script = [[event(0, "r", "tx-2"), event(1, "q", "tx-2"), event(2, "p", "tx-1")], replayed, []]
    consumer = Consumer(log, script, lambda: box[0])
    before = (corrector.UNPROVEN.labels("")._value.get(), corrector.EXPIRED._value.get())
    loop = Corrector(consumer, outbox, Producer(log), TOPIC, "g", check_s=0.0, watch_s=100.0, clock=lambda: now[0])
    box.append(loop)
    loop.run()
    assert [e for e in log if e[0] != "close"] == [("query", 3), ("query", 3), ("commit", {0: 3})]
    after = (corrector.UNPROVEN.labels("")._value.get(), corrector.EXPIRED._value.get())
    assert after == (before[0] + 1, before[1] + 1)
    assert len(loop.watch) == 0


def test_a_revoke_commits_what_is_settled_and_forgets_the_rest_a_lost_assignment_commits_nothing() -> None:
    from confluent_kafka import TopicPartition

    log: list[Any] = []
    box: list[Corrector] = []
    outbox = Outbox(log, [row("w", "SUBMITTED")])

    def revoke(c: Consumer) -> None:
        c.cb["on_revoke"](c, [TopicPartition(TOPIC, 0)])

    def lose(c: Consumer) -> None:
        c.cb["on_lost"](c, [TopicPartition(TOPIC, 1)])

    script = [
        [event(0, "x", "tx-0"), event(1, "w", "tx-1"), event(2, "y", "tx-2")],
        revoke,
        [event(7, "w", "tx-1", partition=1), event(8, "z", "tx-3", partition=1)],
        lose,
    ]
    consumer = Consumer(log, script, lambda: box[0])
    loop = Corrector(consumer, outbox, Producer(log), TOPIC, "g", check_s=0.0)
    box.append(loop)
    loop.run()
    # Partition 0 is committed up to the event still waiting and forgotten at the revoke (its next
    # owner reads it again: no lookup of it after); the lost partition 1 commits nothing.
    assert [e for e in log if e[0] != "close"] == [("query", 3), ("commit", {0: 1}), ("query", 2)]
    assert len(loop.watch) == 0


def test_too_many_events_waiting_pause_the_partitions_until_they_settle() -> None:
    log: list[Any] = []
    box: list[Corrector] = []
    outbox = Outbox(log, [row(f"r{i}", "PENDING") for i in range(3)])
    script = [
        [event(i, f"r{i}", "tx-1") for i in range(3)],
        [],
        outbox.set("CONFIRMED", "r0"),
        outbox.set("CONFIRMED", "r1"),
        [],
    ]
    consumer = Consumer(log, script, lambda: box[0])
    loop = Corrector(consumer, outbox, Producer(log), TOPIC, "g", check_s=0.0, max_watched=3)
    box.append(loop)
    loop.run()
    assert [e for e in log if e[0] in ("pause", "resume")] == [("pause", [0, 1]), ("resume", [0, 1])]
    assert [e for e in log if e[0] == "commit"][-1] == ("commit", {0: 2})


def test_a_missing_acl_is_remembered_until_a_record_is_read() -> None:
    from confluent_kafka import KafkaError

    class Refused:
        def error(self) -> KafkaError:
            return KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "Topic authorization failed")

    log: list[Any] = []
    box: list[Corrector] = []
    seen: list[str | None] = []
    script = [
        [Refused()],
        lambda c: seen.append(box[0].refused),
        [event(0, "x", "tx-0")],
        lambda c: seen.append(box[0].refused),
    ]
    consumer = Consumer(log, script, lambda: box[0])
    loop = Corrector(consumer, Outbox(log, []), Producer(log), TOPIC, "g", check_s=0.0)
    box.append(loop)
    loop.run()
    assert seen[0] is not None and "authorization" in seen[0].lower() and seen[1] is None
