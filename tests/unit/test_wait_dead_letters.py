"""Issue 32, defect 7: `projections wait` compared positions only. A group's checkpoint passes an
event it dead-lettered, and an event the block publisher could not publish is never on the topic:
the wait reported success although the read model lacks the change. It now says which events of
the command were dead-lettered, and fails. The ledger, the database and the dead-letter topic are
fakes here."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from projections import wait
from projections.errors import ProjectionError
from schemas.events import partition_for
from tests.unit.test_blocks import _block, _endorser_tx

TX = "tx-loan-1"


class Gateway:
    """qscc's GetBlockByTxID: block 12, whose transaction 0 emitted LoanApplied."""

    async def evaluate(self, channel: str, chaincode: str, fn: str, args: list[str]) -> bytes:
        assert fn == "GetBlockByTxID" and args[1] == TX
        return _block(12, [_endorser_tx(TX, "LoanApplied")], [0]).SerializeToString()


class Conn:
    """The outbox row (CONFIRMED) and a loans checkpoint past the event on its partition."""

    def __init__(self) -> None:
        self.closed = False

    def execute(self, sql: str, params: Any = None) -> Any:
        if "OutboxCommand" in sql:
            row: Any = ("CONFIRMED", TX, "t")
        else:
            row = (13, 0, 0)  # every group's checkpoint is at block 13: past block 12
        return type("R", (), {"fetchone": lambda self: row})()

    def close(self) -> None:
        self.closed = True


def run(monkeypatch: pytest.MonkeyPatch, letters: list[dict[str, Any]]) -> Any:
    import psycopg

    monkeypatch.setattr(psycopg, "connect", lambda *a, **k: Conn())
    monkeypatch.setattr(wait, "dead_letters_of", lambda *a, **k: letters, raising=False)
    return asyncio.run(
        wait.wait_for_request(
            "r-1",
            "postgresql://x",
            Gateway(),  # type: ignore[arg-type]
            "gxchannel",
            "gxtv3",
            "gx.fabric.events",
            6,
            5,
            0.01,
            bootstrap="kafka:9092",
        )
    )


def test_an_event_the_group_dead_lettered_fails_the_wait_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    letter = {
        "txId": TX,
        "eventIndex": 0,
        "projector": "loans",
        "errorCode": "APPLY_ERROR",
        "reason": 'CheckViolation [23514]: new row for relation "Loan" violates check constraint',
        "deadLetter": "gx.projections.dlq[0]@41",
    }
    with pytest.raises(ProjectionError) as e:
        run(monkeypatch, [letter])
    text = str(e.value)
    assert "LoanApplied" in text and "dead-lettered by loans" in text and "APPLY_ERROR" in text
    assert "gx.projections.dlq[0]@41" in text and "gxctl projections repair" in text
    assert e.value.result.deadLettered == [{**letter, "name": "LoanApplied"}]  # type: ignore[attr-defined]


def test_an_event_the_publisher_could_not_publish_fails_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    letter = {
        "txId": TX,
        "eventIndex": 0,
        "projector": "block-publisher",
        "errorCode": "EVENT_TOO_LARGE",
        "reason": "event 0 (LoanApplied) ... is 1200000 bytes",
        "deadLetter": "gx.projections.dlq[0]@7",
    }
    with pytest.raises(ProjectionError, match=r"never published.*EVENT_TOO_LARGE"):
        run(monkeypatch, [letter])


def test_a_command_whose_events_were_all_applied_still_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    other = {"txId": "another-tx", "eventIndex": 0, "projector": "loans", "errorCode": "APPLY_ERROR", "reason": "x"}
    r = run(monkeypatch, [other])
    assert r.status == "CONFIRMED" and r.block == 12 and r.deadLettered == []
    assert r.events == [
        {
            "name": "LoanApplied",
            "partition": partition_for("LoanApplied", 6),
            "position": [12, 0, 0],
            "groups": ["loans"],
        }
    ]


def test_settle_is_pure_and_a_dead_letter_settles_an_event_whose_position_never_comes() -> None:
    events = [
        {"name": "LoanApplied", "partition": 1, "position": [12, 0, 0], "groups": ["loans"]},
        {"name": "TokensTransferred", "partition": 2, "position": [12, 0, 1], "groups": ["ledger"]},
    ]
    never = {"txId": TX, "eventIndex": 1, "projector": "block-publisher", "errorCode": "EVENT_TOO_LARGE", "reason": ""}
    missing, dead = wait.settle(TX, events, reached={("loans", 0)}, letters=[never])
    assert missing == [] and [d["name"] for d in dead] == ["TokensTransferred"]
    missing, dead = wait.settle(TX, events, reached={("loans", 0)}, letters=[])
    assert missing == ["ledger has not applied TokensTransferred (partition 2)"] and dead == []
    # A transaction the publisher could not decode at all names no event: all of them are affected.
    whole = {"txId": TX, "eventIndex": None, "projector": "block-publisher", "errorCode": "UNDECODABLE_TRANSACTION"}
    missing, dead = wait.settle(TX, events, reached=set(), letters=[whole])
    assert missing == [] and len(dead) == 2
