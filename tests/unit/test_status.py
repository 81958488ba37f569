from hypothesis import given
from hypothesis import strategies as st

from schemas.envelopes import CommandResult, ResultStatus
from streams.status import FINAL, next_status

statuses = st.sampled_from(list(ResultStatus))


@given(st.lists(statuses, max_size=12))
def test_any_sequence_of_results_ends_in_a_consistent_status(seq: list[ResultStatus]) -> None:
    current = "PENDING"
    first_final = None
    for r in seq:
        new = next_status(current, r)
        if new is not None:
            assert current not in FINAL  # a final status never changes
            current = new
        if r.final and first_final is None:
            first_final = r
    if first_final is not None:
        # The row holds the first final result, whatever came before or after it.
        assert current == ("FAILED" if first_final is ResultStatus.REJECTED else first_final.value)


def test_submitted_after_confirmed_is_ignored() -> None:
    assert next_status("CONFIRMED", ResultStatus.SUBMITTED) is None
    assert next_status("SUBMITTED", ResultStatus.SUBMITTED) is None
    assert next_status("PENDING", ResultStatus.SUBMITTED) == "SUBMITTED"
    assert next_status("SUBMITTED", ResultStatus.CONFIRMED) == "CONFIRMED"
    assert next_status("PENDING", ResultStatus.REJECTED) == "FAILED"


def _result(status: ResultStatus, tx: str | None = None) -> CommandResult:
    return CommandResult(commandId="c", requestId="r", tenantId="t", key="k", status=status, fabricTxId=tx)


def test_a_confirmed_with_its_transaction_corrects_a_failure_the_ledger_never_said() -> None:
    """Issue 20, item 3: a replay that finds the transaction which applied the command replaces
    FAILED(RETRIES_EXHAUSTED or an invalid transaction); never a chaincode's or a schema's answer."""
    from streams.outcome import FINAL_WORDS

    confirmed = _result(ResultStatus.CONFIRMED, "tx1")
    for code in ("RETRIES_EXHAUSTED", "INVALID_TRANSACTION", "ENDORSEMENT_POLICY_FAILURE", "INTERNAL_ERROR", None):
        assert next_status("FAILED", confirmed, code) == "CONFIRMED"
    for code in FINAL_WORDS:
        assert next_status("FAILED", confirmed, code) is None
    assert next_status("FAILED", _result(ResultStatus.CONFIRMED), "RETRIES_EXHAUSTED") is None  # no transaction named
    assert next_status("CONFIRMED", _result(ResultStatus.FAILED), None) is None
    assert next_status("FAILED", _result(ResultStatus.SUBMITTED, "tx1"), "RETRIES_EXHAUSTED") is None
