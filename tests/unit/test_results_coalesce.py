"""The results writer keeps one result per command in a batch: the most advanced one."""

from __future__ import annotations

from schemas.envelopes import CommandResult, ResultStatus
from streams.results_writer import coalesce


def r(cid: str, status: ResultStatus) -> CommandResult:
    return CommandResult(commandId=cid, requestId=cid, tenantId="t", key="k", status=status)


def test_a_final_result_replaces_the_submitted_one_and_order_is_kept() -> None:
    batch = [
        (1, r("a", ResultStatus.SUBMITTED)),
        (2, r("b", ResultStatus.SUBMITTED)),
        (3, r("a", ResultStatus.CONFIRMED)),
        (4, r("c", ResultStatus.REJECTED)),
    ]
    assert [m for m, _ in coalesce(batch)] == [2, 3, 4]


def test_a_late_submitted_never_replaces_a_final_result() -> None:
    batch = [(1, r("a", ResultStatus.FAILED)), (2, r("a", ResultStatus.SUBMITTED))]
    assert [m for m, _ in coalesce(batch)] == [1]


def test_the_final_result_takes_over_a_dropped_submitted_time() -> None:
    from datetime import UTC, datetime

    from schemas.envelopes import Timings

    t = datetime(2026, 11, 29, tzinfo=UTC)
    sub = CommandResult(
        commandId="a",
        requestId="a",
        tenantId="t",
        key="k",
        status=ResultStatus.SUBMITTED,
        timings=Timings(submittedAt=t),
    )
    [(_, final)] = coalesce([(1, sub), (2, r("a", ResultStatus.CONFIRMED))])
    assert final.status is ResultStatus.CONFIRMED and final.timings.submittedAt == t
