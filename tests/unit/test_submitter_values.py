"""The submitter's pure steps, one test each: reading a record as a command, the chaincode's answer,
the attempt state's transitions and the results a command ends in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest

from fabric_gateway import CommitError, EndorseError, ErrorDetail, Status, Verdict
from schemas.envelopes import ResultStatus
from schemas.errors import PayloadError
from streams.outcome import Kind, Outcome
from streams.submitter import Record
from streams.submitter import results as r
from streams.submitter.answer import Answer
from streams.submitter.command import Command, parse, rejection_code
from streams.submitter.state import AttemptState, Found, Sent
from tests.unit.test_submitter import command

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def record(value: bytes, key: bytes | None = b"USR-1", offset: int = 7) -> Record:
    return Record("gx.commands", 3, offset, key, value)


def a_command(key: bytes | None = b"USR-1") -> Command:
    return parse(record(command("CREATE_USER", 1, "r1"), key), T0)


def test_a_valid_record_is_read_as_its_chaincode_call_with_tenant_and_request_first() -> None:
    c = a_command()
    assert (c.function, c.args[:2], c.received) == ("IdentityContract:CreateUser", ["t", "r1"], T0)
    assert c.key == b"USR-1"
    assert c.ctx == {"requestId": "r1", "commandId": "id-r1", "partition": 3, "offset": 7}
    assert a_command(key=None).key == c.env.key.encode()  # no record key: the envelope's


@pytest.mark.parametrize(
    "value,code",
    [
        (b"not json", "INVALID_ENVELOPE"),
        (command("TRANSFER_TOKENS", 1, "x", {"fromWalletId": "a", "toWalletId": "b", "amount": 0}), "INVALID_PAYLOAD"),
        (command("MINT", 1, "m", {}), "UNKNOWN_COMMAND_TYPE"),
    ],
)
def test_an_unusable_record_is_refused_with_its_error_code(value: bytes, code: str) -> None:
    with pytest.raises(PayloadError) as e:
        parse(record(value), T0)
    assert rejection_code(e.value) == code


def test_the_answer_names_the_transaction_that_applied_the_request_and_a_recorded_rejection() -> None:
    assert Answer.read(b"", "tx1") == Answer("tx1")  # not JSON: the transaction's own
    assert Answer.read(b"[1]", "tx1") == Answer("tx1")  # not an object
    assert Answer.read(b'{"txId": "tx0"}', "tx1") == Answer("tx0")
    assert Answer.read(b'{"txId": ""}', "tx1") == Answer("tx1")
    rejected = b'{"rejected": {"code": "INSUFFICIENT_FUNDS", "message": "has 1, needs 5"}}'
    assert Answer.read(rejected, "tx1") == Answer("tx1", "INSUFFICIENT_FUNDS: has 1, needs 5")
    assert Answer.read(b'{"rejected": {"message": "no"}}', "tx1").rejection == "REJECTED: no"
    assert Answer.read(b'{"rejected": {"code": "FROZEN"}}', "tx1").rejection == "FROZEN"


def test_each_attempt_begun_is_charged() -> None:
    s = AttemptState(a_command())
    s.begin()
    s.begin()
    assert (s.attempt, s.charged, s.conflicts) == (2, 2, 0)


@pytest.mark.parametrize(
    "verdict,breaker_open,charged,conflicts",
    [
        (Verdict.INFRA, False, 1, 0),  # an outage while Fabric is still considered up: charged
        (Verdict.INFRA, True, 0, 0),  # with the breaker open: says nothing about the command
        (Verdict.CONFLICT, False, 0, 1),  # its own budget
        (Verdict.REQUEST, True, 1, 0),  # not an outage: charged whatever the breaker says
        (Verdict.REJECTED, False, 1, 0),
        (Verdict.REFUSED, True, 1, 0),  # the chaincode threw: not an outage, charged whatever the breaker says
    ],
)
def test_a_failed_attempt_is_charged_unless_an_open_breaker_or_a_conflict_explains_it(
    verdict: Verdict, breaker_open: bool, charged: int, conflicts: int
) -> None:
    s = AttemptState(a_command())
    s.begin()
    s.charge(verdict, breaker_open)
    assert (s.attempt, s.charged, s.conflicts) == (1, charged, conflicts)


def test_transactions_sent_are_kept_with_their_answers_newest_first_until_known_invalid() -> None:
    s = AttemptState(a_command())
    s.sending("tx1", Answer("tx1"))
    s.sending("tx2", Answer("tx2", "FROZEN"))
    assert s.unsure and s.newest_first() == [Sent("tx2", Answer("tx2", "FROZEN")), Sent("tx1", Answer("tx1"))]
    s.settled()
    s.drop("tx1")
    s.drop("unknown")
    assert not s.unsure and s.sent == [Sent("tx2", Answer("tx2", "FROZEN"))]


def test_an_attempt_log_entry_names_the_transaction_the_error_and_its_code() -> None:
    invalid = r.attempt_entry(2, CommitError("tx9", "MVCC_READ_CONFLICT", 4), "RETRYABLE", T0)
    assert (invalid.attempt, invalid.txId, invalid.errorClass, invalid.code, invalid.at) == (
        2,
        "tx9",
        "CommitError",
        "MVCC_READ_CONFLICT",
        T0,
    )
    details = (ErrorDetail("peer0:7051", "Org1MSP", "chaincode response 500, wallet frozen"),)
    refused = r.attempt_entry(1, EndorseError("failed", "tx1", grpc.StatusCode.ABORTED, details), "X", T0)
    assert (refused.code, refused.message) == ("ABORTED", "chaincode response 500, wallet frozen")
    ok = r.attempt_entry(3, None, "COMMITTED", T0, tx_id="tx3")
    assert (ok.txId, ok.errorClass, ok.code, ok.message) == ("tx3", None, None, None)
    verdicts = (Verdict.REFUSED, Verdict.REJECTED, Verdict.INVALID, Verdict.CONFLICT, Verdict.INFRA)
    assert [r.outcome_of(v) for v in verdicts] == [
        "CHAINCODE_REFUSED",
        "PERMANENT",
        "PERMANENT",
        "RETRYABLE",
        "RETRYABLE",
    ]


def sent_once() -> AttemptState:
    s = AttemptState(a_command())
    s.begin()
    s.submitted_at = T0 + timedelta(seconds=1)
    return s


def test_a_commit_is_confirmed_with_its_transaction_block_and_times() -> None:
    s = sent_once()
    final = r.committed(s, Found(Status("tx1", "VALID", 12), Answer("tx1")), T0 + timedelta(seconds=2))
    res = final.result
    assert (res.status, res.fabricTxId, res.commitBlock, res.validationCode, res.attempts) == (
        ResultStatus.CONFIRMED,
        "tx1",
        12,
        "VALID",
        1,
    )
    assert (res.requestId, res.commandId, res.tenantId, res.sourcePartition, res.sourceOffset) == (
        "r1",
        "id-r1",
        "t",
        3,
        7,
    )
    t = res.timings
    assert (t.receivedAt, t.submittedAt, t.committedAt, t.durationMs) == (
        T0,
        s.submitted_at,
        T0 + timedelta(seconds=2),
        2000,
    )
    assert res.errorCode is None and not final.dead_letter


def test_a_commit_that_recorded_a_rejection_is_failed_with_it_and_not_dead_lettered() -> None:
    found = Found(Status("tx0", "VALID", 5), Answer("tx0", "INSUFFICIENT_FUNDS: has 1"))
    final = r.committed(sent_once(), found, T0)
    res = final.result
    assert (res.status, res.errorCode, res.error, res.fabricTxId, res.commitBlock) == (
        ResultStatus.FAILED,
        "CHAINCODE_REJECTED",
        "INSUFFICIENT_FUNDS: has 1",
        "tx0",
        5,
    )
    assert res.timings.committedAt is None and not final.dead_letter


def test_a_failure_carries_the_last_error_and_the_outcomes_code_and_dead_letter() -> None:
    s = sent_once()
    s.last_error = CommitError("tx1", "ENDORSEMENT_POLICY_FAILURE", 9)
    s.log.append(r.attempt_entry(1, s.last_error, "PERMANENT", T0))
    final = r.failed(s, Verdict.INVALID, Outcome(Kind.FAILED, "ENDORSEMENT_POLICY_FAILURE", dead_letter=True), T0)
    res = final.result
    assert (res.status, res.errorCode, res.fabricTxId, res.validationCode, res.commitBlock) == (
        ResultStatus.FAILED,
        "ENDORSEMENT_POLICY_FAILURE",
        "tx1",
        "ENDORSEMENT_POLICY_FAILURE",
        None,
    )
    assert final.dead_letter and res.error == str(s.last_error) and len(res.attemptLog) == 1
    s.last_error = EndorseError(
        "failed", "", grpc.StatusCode.ABORTED, (ErrorDetail("p", "m", "chaincode response 500, no"),)
    )
    rejected = r.failed(s, Verdict.REJECTED, Outcome(Kind.FAILED, "CHAINCODE_REJECTED"), T0)
    assert (rejected.result.error, rejected.result.fabricTxId, rejected.dead_letter) == (
        "chaincode response 500, no",
        None,
        False,
    )


def test_a_progress_result_says_submitted_with_the_transaction() -> None:
    res = r.progress(sent_once(), "tx1", T0 + timedelta(seconds=1))
    assert (res.status, res.fabricTxId, res.attempts, res.timings.submittedAt, res.attemptLog) == (
        ResultStatus.SUBMITTED,
        "tx1",
        1,
        T0 + timedelta(seconds=1),
        [],
    )


def test_an_unusable_record_is_dead_lettered_with_the_ids_that_can_be_read() -> None:
    final = r.unusable(record(b'{"id": 5, "requestId": "q", "tenantId": null}'), "INVALID_ENVELOPE", "bad", 0)
    res = final.result
    assert (res.commandId, res.requestId, res.tenantId, res.key, res.status, res.errorCode, res.error) == (
        "5",
        "q",
        "",
        "USR-1",
        ResultStatus.FAILED,
        "INVALID_ENVELOPE",
        "bad",
    )
    assert final.dead_letter and (res.sourcePartition, res.sourceOffset) == (3, 7)
    assert r.best_effort_ids(b"\xff") == {} and r.best_effort_ids(b"[]") == {}
