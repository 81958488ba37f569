"""`gxctl commands show`'s story of a command, from its row."""

from __future__ import annotations

from gxctl.story import story

ROW = {
    "id": "c1",
    "tenantId": "demo",
    "service": "svc-tokenomics",
    "commandType": "TRANSFER_TOKENS",
    "requestId": "xfer-1",
    "payload": {"amount": 5, "fromWalletId": "a", "toWalletId": "b"},
    "partitionKey": "a",
    "createdAt": "2026-11-29 06:00:00+00",
    "status": "CONFIRMED",
    "attempts": 2,
    "kafkaPartition": 3,
    "kafkaOffset": 42,
    "fabricTxId": "ab" * 32,
    "commitBlock": 57,
    "validationCode": "VALID",
    "errorCode": None,
    "error": None,
    "updatedAt": "2026-11-29 06:00:01+00",
    "attemptLog": [
        {
            "attempt": 1,
            "txId": "ab" * 32,
            "outcome": "RETRYABLE",
            "errorClass": "CommitStatusError",
            "code": "DEADLINE_EXCEEDED",
            "message": "DEADLINE_EXCEEDED: timed out",
        },
        {"attempt": 2, "txId": "ab" * 32, "outcome": "COMMITTED", "errorClass": None, "code": None, "message": None},
    ],
}


def test_the_story_names_every_stage_with_its_values() -> None:
    lines = story(ROW)
    assert lines[0] == "command   TRANSFER_TOKENS  requestId xfer-1  (id c1, tenant demo, svc-tokenomics)"
    assert lines[1] == 'payload   {"amount": 5, "fromWalletId": "a", "toWalletId": "b"}'
    assert "kafka     gx.commands partition 3 offset 42" in lines
    assert lines[4].startswith("attempt 1 tx abababababababab  RETRYABLE: CommitStatusError DEADLINE_EXCEEDED")
    assert lines[5] == "attempt 2 tx abababababababab  COMMITTED"
    assert f"ledger    tx {'ab' * 32} in block 57 (VALID)" in lines
    assert lines[-1] == "status    CONFIRMED after 2 attempt(s), updated 2026-11-29 06:00:01+00"


def test_a_pending_command_says_where_to_look_and_a_failure_shows_its_error() -> None:
    pending = {
        **ROW,
        "status": "PENDING",
        "attempts": 0,
        "kafkaPartition": None,
        "kafkaOffset": None,
        "attemptLog": None,
        "fabricTxId": None,
        "commitBlock": None,
    }
    assert any("gxctl status" in line for line in story(pending))
    failed = {
        **ROW,
        "status": "FAILED",
        "errorCode": "CHAINCODE_REJECTED",
        "error": "chaincode response 500, no",
        "commitBlock": None,
    }
    assert story(failed)[-1].endswith("error     CHAINCODE_REJECTED: chaincode response 500, no")
    assert f"ledger    nothing written: tx {'ab' * 32} was never committed" in story(failed)
