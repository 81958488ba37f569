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


# Every errorCode a FAILED row may hold: the submitter's, a validation code, the chaincode's
# recorded rejection, an unrecorded refusal, none.
FAILED_CODES = (
    "RETRIES_EXHAUSTED",
    "INVALID_TRANSACTION",
    "ENDORSEMENT_POLICY_FAILURE",
    "INTERNAL_ERROR",
    "CHAINCODE_REJECTED",
    "CHAINCODE_REFUSED",
    "IDEMPOTENCY_CONFLICT",
    "INVALID_ENVELOPE",
    "INVALID_PAYLOAD",
    "UNKNOWN_COMMAND_TYPE",
    None,
)


def test_a_confirmed_with_its_transaction_replaces_any_failed() -> None:
    """Issue 30, defects 3 and 5: the ledger has the last word. A CONFIRMED naming the transaction
    that applied the command (a replay, a correction from the block stream) replaces FAILED whatever
    its errorCode: an unrecorded refusal once reported as CHAINCODE_REJECTED, a timeout, anything."""
    confirmed = _result(ResultStatus.CONFIRMED, "tx1")
    assert {code: next_status("FAILED", confirmed, code) for code in FAILED_CODES} == dict.fromkeys(
        FAILED_CODES, "CONFIRMED"
    )


def test_nothing_else_replaces_a_final_status() -> None:
    for code in FAILED_CODES:
        assert next_status("FAILED", _result(ResultStatus.CONFIRMED), code) is None  # no transaction named
        assert next_status("FAILED", _result(ResultStatus.FAILED, "tx2"), code) is None
        assert next_status("FAILED", _result(ResultStatus.REJECTED), code) is None
        assert next_status("FAILED", _result(ResultStatus.SUBMITTED, "tx1"), code) is None
    for status in ResultStatus:  # nothing replaces CONFIRMED, another transaction's CONFIRMED neither
        assert next_status("CONFIRMED", _result(status, "tx2"), None) is None
