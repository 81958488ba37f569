"""The results writer reduces a batch to one result per command (streams.status.coalesce), and the
rows it writes are those the results would have written one at a time, whatever their order and
however they are batched (hypothesis)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from schemas.envelopes import Attempt, CommandResult, ResultStatus, Timings
from streams.status import coalesce, next_status

T0 = datetime(2026, 11, 29, tzinfo=UTC)


def r(cid: str, status: ResultStatus, **kw: object) -> CommandResult:
    return CommandResult(commandId=cid, requestId=cid, tenantId="t", key="k", status=status, **kw)  # type: ignore[arg-type]


def test_a_final_result_replaces_the_submitted_one_and_order_is_kept() -> None:
    batch = [
        (1, r("a", ResultStatus.SUBMITTED)),
        (2, r("b", ResultStatus.SUBMITTED)),
        (3, r("a", ResultStatus.CONFIRMED, fabricTxId="tx")),
        (4, r("c", ResultStatus.REJECTED)),
    ]
    assert [m for m, _ in coalesce(batch)] == [2, 3, 4]


def test_a_late_submitted_never_replaces_a_final_result() -> None:
    batch = [(1, r("a", ResultStatus.FAILED)), (2, r("a", ResultStatus.SUBMITTED))]
    assert [m for m, _ in coalesce(batch)] == [1]


def test_the_final_result_takes_over_a_dropped_submitted_time() -> None:
    sub = r("a", ResultStatus.SUBMITTED, timings=Timings(submittedAt=T0))
    [(_, final)] = coalesce([(1, sub), (2, r("a", ResultStatus.CONFIRMED, fabricTxId="tx"))])
    assert final.status is ResultStatus.CONFIRMED and final.timings.submittedAt == T0


def test_a_confirmed_wins_over_a_failed_in_the_same_batch_whatever_their_order() -> None:
    """Issue 30, defect 5: a batch holding the CONFIRMED and then a replay's FAILED for the same
    command wrote FAILED (the last final result was kept)."""
    confirmed = r("a", ResultStatus.CONFIRMED, fabricTxId="tx-1", commitBlock=7)
    failed = r("a", ResultStatus.FAILED, errorCode="RETRIES_EXHAUSTED")
    for batch in ([(1, confirmed), (2, failed)], [(1, failed), (2, confirmed)]):
        assert [(m, x.status, x.fabricTxId, x.commitBlock) for m, x in coalesce(batch)] == [
            (1 if batch[0][1] is confirmed else 2, ResultStatus.CONFIRMED, "tx-1", 7)
        ]


def test_the_first_final_result_stays_as_it_would_across_batches() -> None:
    first = r("a", ResultStatus.REJECTED, errorCode="INVALID_PAYLOAD")
    second = r("a", ResultStatus.FAILED, errorCode="RETRIES_EXHAUSTED")
    assert [x for _, x in coalesce([(1, first), (2, second)])] == [first]
    # a CONFIRMED without its transaction is no correction: the first final one stays too
    unnamed = r("a", ResultStatus.CONFIRMED)
    assert [x for _, x in coalesce([(1, second), (2, unnamed)])] == [second]


def test_a_correction_keeps_the_failed_results_attempt_log_and_attempts() -> None:
    """A correcting CONFIRMED (from the block stream) carries no attempt log: the FAILED result's
    log in the same batch is what the row keeps, as it would across batches."""
    log = [Attempt(attempt=1, txId="tx-1", outcome="RETRYABLE", errorClass="CommitStatusError", at=T0)]
    failed = r("a", ResultStatus.FAILED, errorCode="RETRIES_EXHAUSTED", attempts=5, attemptLog=log)
    correction = r("a", ResultStatus.CONFIRMED, fabricTxId="tx-1", commitBlock=9)
    [(_, out)] = coalesce([(1, failed), (2, correction)])
    assert (out.status, out.fabricTxId, out.attempts, out.attemptLog) == (ResultStatus.CONFIRMED, "tx-1", 5, log)


# -- properties -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """The outbox row's columns a result decides (streams.results_writer.UPDATE)."""

    status: str = "PENDING"
    code: str | None = None
    txid: str | None = None
    block: int | None = None


def apply(row: Row, x: CommandResult) -> Row:
    """One guarded UPDATE: the new status if the guard lets it through, errorCode as given, the
    transaction and block kept when the result names none."""
    new = next_status(row.status, x, row.code)
    if new is None:
        return row
    return Row(new, x.errorCode, x.fabricTxId or row.txid, x.commitBlock if x.commitBlock is not None else row.block)


def write(results: list[CommandResult], cuts: list[int]) -> dict[str, Row]:
    """The rows after the results writer took ``results`` in batches cut at ``cuts``."""
    rows: dict[str, Row] = {}
    bounds = sorted({0, len(results), *(c % (len(results) + 1) for c in cuts)})
    for lo, hi in pairwise(bounds):
        for _, x in coalesce([(i, x) for i, x in enumerate(results[lo:hi])]):
            rows[x.commandId] = apply(rows.get(x.commandId, Row()), x)
    return rows


CODES = ["RETRIES_EXHAUSTED", "MVCC_READ_CONFLICT", "CHAINCODE_REJECTED", "CHAINCODE_REFUSED", "INTERNAL_ERROR"]


@st.composite
def results(draw: st.DrawFn) -> CommandResult:
    cid = draw(st.sampled_from(["a", "b", "c"]))
    status = draw(st.sampled_from(list(ResultStatus)))
    n = draw(st.integers(1, 4))
    if status is ResultStatus.CONFIRMED:  # a CONFIRMED names its transaction and block
        return r(cid, status, fabricTxId=f"tx-{cid}{n}", commitBlock=n)
    if status is ResultStatus.REJECTED:
        return r(cid, status, errorCode=draw(st.sampled_from(["INVALID_PAYLOAD", "INVALID_ENVELOPE"])))
    if status is ResultStatus.FAILED:
        return r(cid, status, errorCode=draw(st.sampled_from(CODES)), fabricTxId=draw(st.sampled_from([None, "tx-f"])))
    return r(cid, status, fabricTxId=draw(st.sampled_from([None, f"tx-{cid}{n}"])))


def expected_status(results: list[CommandResult], cid: str) -> str:
    """What the row must say, from the set of its results alone (order-independent)."""
    mine = [x for x in results if x.commandId == cid]
    if any(x.status is ResultStatus.CONFIRMED and x.fabricTxId for x in mine):
        return "CONFIRMED"
    if any(x.status.final for x in mine):
        return "FAILED"
    return "SUBMITTED" if mine else "PENDING"


@given(
    st.lists(results(), max_size=14).flatmap(lambda xs: st.tuples(st.permutations(xs), st.lists(st.integers(0, 14))))
)
def test_whatever_the_order_and_the_batches_a_command_ends_confirmed_iff_a_result_confirmed_it(
    case: tuple[list[CommandResult], list[int]],
) -> None:
    ordered, cuts = case
    rows = write(ordered, cuts)
    assert {c: rows[c].status for c in rows} == {c: expected_status(ordered, c) for c in rows}


@given(st.lists(results(), max_size=14), st.lists(st.integers(0, 14), max_size=6))
def test_batches_write_what_the_results_write_one_at_a_time(results_: list[CommandResult], cuts: list[int]) -> None:
    """Status and errorCode as one result at a time would leave them; a CONFIRMED row names the
    first CONFIRMED's transaction and block (nothing replaces CONFIRMED)."""
    batched = write(results_, cuts)
    single = write(results_, list(range(len(results_))))
    assert {c: (x.status, x.code) for c, x in batched.items()} == {c: (x.status, x.code) for c, x in single.items()}
    for c, x in batched.items():
        if x.status == "CONFIRMED":
            first = next(y for y in results_ if y.commandId == c and y.status is ResultStatus.CONFIRMED)
            assert (x.txid, x.block) == (single[c].txid, single[c].block) == (first.fabricTxId, first.commitBlock)


def test_the_model_row_is_the_update_it_stands_for() -> None:
    """(A check of the test's own model.)"""
    row = apply(Row(), r("a", ResultStatus.FAILED, errorCode="RETRIES_EXHAUSTED", fabricTxId="tx-f"))
    assert row == Row("FAILED", "RETRIES_EXHAUSTED", "tx-f", None)
    assert apply(row, r("a", ResultStatus.CONFIRMED, fabricTxId="tx-1", commitBlock=3)) == Row(
        "CONFIRMED", None, "tx-1", 3
    )
    assert replace(row, status="CONFIRMED") == apply(replace(row, status="CONFIRMED"), r("a", ResultStatus.FAILED))
