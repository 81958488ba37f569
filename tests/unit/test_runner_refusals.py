"""Issue 32, defects 1 and 2: what the database refuses, blamed by what the error says.

The classification (projections.db_errors) is pure: a record the database refuses for its own data
(SQLSTATE classes 21, 22, 23, 54, or a client-side refusal with no SQLSTATE at all, such as
psycopg's NUL check) is the record's problem; anything else (a connection lost, a server shutting
down, a lock timeout, a missing table) is the database's and affects every record. The writer
(projections.runner) splits a refused batch in halves until the one record is found and
dead-letters it; it retries only what is the database's, in place. The database here is a fake
that refuses what a real one would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from projections import identity, store
from projections.db_errors import Blame, blame, blame_of
from projections.model import Prepared
from projections.runner import Projector
from tests.unit.events_factory import record
from tests.unit.test_prepare import USER

NUL = psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")  # client-side: no SQLSTATE


@pytest.mark.parametrize(
    ("sqlstate", "kinds", "want"),
    [
        ("22021", ["DataError"], Blame.RECORD),  # invalid byte sequence
        ("22P05", ["DataError"], Blame.RECORD),  # \u0000 in jsonb
        ("23505", ["IntegrityError"], Blame.RECORD),
        ("23514", ["IntegrityError"], Blame.RECORD),  # a CHECK
        ("54000", ["ProgramLimitExceeded", "OperationalError"], Blame.RECORD),  # index row too large
        ("21000", ["CardinalityViolation", "ProgrammingError"], Blame.RECORD),
        (None, ["DataError", "DatabaseError", "Error"], Blame.RECORD),  # psycopg refusing NUL itself
        (None, ["UnicodeEncodeError", "UnicodeError", "ValueError"], Blame.RECORD),  # no UTF-8 form
        ("08006", ["OperationalError"], Blame.DATABASE),  # connection failure
        ("57P01", ["AdminShutdown", "OperationalError"], Blame.DATABASE),  # server shutting down
        ("57014", ["QueryCanceled", "OperationalError"], Blame.DATABASE),  # statement timeout
        ("55P03", ["LockNotAvailable", "OperationalError"], Blame.DATABASE),  # lock timeout
        ("40P01", ["DeadlockDetected", "OperationalError"], Blame.DATABASE),
        ("53100", ["DiskFull", "OperationalError"], Blame.DATABASE),
        ("42P01", ["UndefinedTable", "ProgrammingError"], Blame.DATABASE),  # every record fails alike
        ("42501", ["InsufficientPrivilege", "ProgrammingError"], Blame.DATABASE),
        ("XX000", ["InternalError_"], Blame.DATABASE),
        (None, ["OperationalError", "DatabaseError", "Error"], Blame.DATABASE),  # the connection went away
        (None, ["InterfaceError", "Error"], Blame.DATABASE),
        (None, ["ProgrammingError", "DatabaseError", "Error"], Blame.DATABASE),  # a bug: stall, never dead-letter all
    ],
)
def test_errors_are_blamed_by_what_they_say(sqlstate: str | None, kinds: list[str], want: Blame) -> None:
    assert blame(sqlstate, kinds) is want


def test_blame_of_reads_the_sqlstate_before_the_class() -> None:
    # ProgramLimitExceeded is an OperationalError to psycopg, but 54000 is about the row.
    assert blame_of(psycopg.errors.lookup("54000")("index row size 3016 exceeds maximum 2704")) is Blame.RECORD
    assert blame_of(NUL) is Blame.RECORD
    assert blame_of(psycopg.errors.AdminShutdown("terminating connection")) is Blame.DATABASE
    assert blame_of(UnicodeEncodeError("utf-8", "x", 0, 1, "surrogates not allowed")) is Blame.RECORD


class FakeConn:
    closed = False
    autocommit = False

    def close(self) -> None:
        self.closed = True


def connect() -> Any:
    return FakeConn()


class Retried(Exception):
    """The writer slept to retry more often than the test allows: it would retry forever."""


class FakeDb:
    """Commits a batch unless ``refuse`` finds a reason in it; the checkpoints move as the real
    store moves them. Dead letters are handed to ``on_dead`` first, as store.send does."""

    def __init__(self, refuse: Callable[[Prepared], BaseException | None]) -> None:
        self.refuse = refuse
        self.attempts = 0
        self.written: list[int] = []  # offsets applied
        self.stored: dict[int, int] = {}

    def commit(
        self, conn: Any, name: str, channel: str, topic: str, batch: Prepared, tables: Any, on_dead: Any
    ) -> None:
        self.attempts += 1
        if batch.dead:
            on_dead(batch.dead)
        error = self.refuse(batch)
        if error is not None:
            raise error
        dead = {d.record.offset for d in batch.dead}
        fresh = [r.offset for r in batch.records if r.offset > batch.after[r.partition]]
        self.written += [o for o in fresh if o not in dead]
        self.stored.update(batch.last_offset)


def users(n: int, bad: dict[int, str]) -> list[Any]:
    return [record(i, "UserCreated", {**USER, "userId": f"u{i}", "lastName": bad.get(i, "B")}) for i in range(n)]


def writer(
    monkeypatch: pytest.MonkeyPatch, db: FakeDb, max_sleeps: int = 5
) -> tuple[Projector, list[Any], list[float]]:
    monkeypatch.setattr(store, "commit", db.commit)
    dead: list[Any] = []
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        if len(slept) > max_sleeps:
            raise Retried(f"retried {len(slept)} times")

    p = Projector(
        identity.GROUP,
        "identity",
        "gxchannel",
        "gx.fabric.events",
        connect,
        lambda *a: [],
        dead.extend,
        sleep=sleep,
    )
    return p, dead, slept


def refusing(bad_names: set[str], error: BaseException) -> Callable[[Prepared], BaseException | None]:
    """A database that refuses any batch holding a user whose last name is in ``bad_names``."""

    def refuse(batch: Prepared) -> BaseException | None:
        for s in batch.stmts:
            for column in s.params:
                if isinstance(column, list) and bad_names & set(map(str, column)):
                    return error
        return None

    return refuse


@pytest.mark.parametrize(
    "error",
    [
        NUL,  # the case: psycopg refuses NUL client-side, with no SQLSTATE
        psycopg.errors.lookup("54000")(
            'index row size 3016 exceeds btree version 4 maximum 2704 for index "User_pkey"'
        ),
    ],
    ids=["client-side NUL", "54000"],
)
def test_a_record_the_database_refuses_is_found_by_halving_and_dead_lettered_never_retried(
    monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    db = FakeDb(refusing({"Ac\x00me"}, error))
    p, dead, slept = writer(monkeypatch, db)
    p.apply(users(16, {11: "Ac\x00me"}))
    assert [(d.record.offset, d.code) for d in dead] == [(11, "APPLY_ERROR")]
    assert str(error).split()[0] in dead[0].reason
    assert slept == []  # nothing was retried: the record is the problem, not the database
    assert db.stored == {0: 15} and sorted(set(db.written)) == [o for o in range(16) if o != 11]
    assert db.attempts <= 2 * 4 + 2  # halving: about 2 log2(16) transactions, not one per record


def test_two_bad_records_in_one_batch_are_each_dead_lettered(monkeypatch: pytest.MonkeyPatch) -> None:
    db = FakeDb(refusing({"x\x00", "y\x00"}, NUL))
    p, dead, slept = writer(monkeypatch, db)
    p.apply(users(10, {2: "x\x00", 7: "y\x00"}))
    assert [d.record.offset for d in dead] == [2, 7] and slept == [] and db.stored == {0: 9}


@pytest.mark.parametrize(
    "error",
    [
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"),
        psycopg.errors.UndefinedTable('relation "User" does not exist'),
        psycopg.OperationalError("connection is lost"),
    ],
    ids=["57P01", "55P03", "42P01", "connection lost"],
)
def test_what_affects_every_record_is_retried_in_place_never_split(
    monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    outage = {"left": 3}

    def refuse(batch: Prepared) -> BaseException | None:
        if outage["left"]:
            outage["left"] -= 1
            return error
        return None

    from projections.metrics import BATCH_RETRIES

    db = FakeDb(refuse)
    p, dead, _ = writer(monkeypatch, db)
    seen: list[float] = []
    monkeypatch.setattr(p, "_sleep", lambda s: seen.append(BATCH_RETRIES.labels("identity")._value.get()))
    p.apply(users(8, {}))
    assert dead == [] and seen == [1, 2, 3] and db.attempts == 4  # what the alert GxProjectorBatchRetrying reads
    assert BATCH_RETRIES.labels("identity")._value.get() == 0  # written: no longer retrying
    assert db.stored == {0: 7} and sorted(db.written) == list(range(8))


def test_halving_sends_each_dead_letter_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dead letters go out before a batch is written; a batch halved after a refusal was prepared
    again, and the dead letters of its other records went out again with each half (seen on the
    real stack: an unknown event dead-lettered three times by the group that also met a NUL)."""
    db = FakeDb(refusing({"Ac\x00me"}, NUL))
    p, dead, slept = writer(monkeypatch, db)
    records = users(16, {11: "Ac\x00me"})
    records[3] = record(3, "Minted", {"walletId": "w"})  # an unknown event: dead-lettered as it is prepared
    p.apply(records)
    assert sorted((d.record.offset, d.code) for d in dead) == [(3, "UNKNOWN_EVENT_TYPE"), (11, "APPLY_ERROR")]
    assert slept == [] and db.stored == {0: 15}
