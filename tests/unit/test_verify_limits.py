"""`gxctl verify` against what the ledger can hold and the read models cannot (issue 32, defects 1,
2, 8 and 10), with the ledger and the database faked.

- Text with NUL the ledger already holds is compared as the read models can store it (U+FFFD for
  NUL): a row repaired from the ledger matches.
- A row whose indexed id is longer than an index entry can be (a 1,000-character CJK id: 3,000
  bytes) cannot be held by the read model at all: reported apart, not as drift.
- A kind larger than a page of QueryContract List is read page by page (the chaincode pages its
  range queries, so Fabric's totalQueryLimit never cuts a listing short): every row is compared.
- The history is compared a window of blocks at a time, never every event of the chain in memory.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from fabric_gateway.blocks import Block, BlockTransaction, ChaincodeEvent
from projections import ledger_reads, verify
from projections.expected import COLUMNS, compare, expected
from projections.storable import holdable, storable


def block_of(n: int, at: datetime) -> Block:
    """Block ``n``: one valid transaction moving 1 from u1 to u2."""
    moved = {"schemaVersion": 2, "requestId": f"r{n}", "fromWalletId": "u1", "toWalletId": "u2", "amount": "1"}
    event = ChaincodeEvent(n, f"t{n}", "gxtv3", "TokensTransferred", json.dumps(moved).encode())
    return Block(n, (BlockTransaction(0, f"t{n}", "ENDORSER_TRANSACTION", "VALID", at, (event,)),))


ORG = {
    "orgId": "org-1",
    "name": "Ac\x00me",
    "proposerId": "u1",
    "status": "PROPOSED",
    "members": ["u1"],
    "requiredApprovals": 1,
}


def test_text_the_ledger_holds_is_compared_as_the_read_models_can_store_it() -> None:
    want = expected({"org": [ORG]})
    have = {"Organization": {("org-1",): {**ORG, "name": "Ac\ufffdme", "walletId": None}}}
    assert [d.line() for d in compare(want, have) if d.table == "Organization"] == []
    assert storable({"a\x00": ["b\ud800", 1]}) == {"a\ufffd": ["b\ufffd", 1]}


def test_a_row_the_read_model_cannot_hold_is_reported_apart() -> None:
    long_id = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(1000))  # 3,000 bytes of UTF-8
    assert not holdable("User", {"userId": long_id}) and holdable("User", {"userId": "u" * 128})
    user = {"userId": long_id, "email": "e@x.io", "firstName": "A", "lastName": "B", "country": "MY"}
    want = expected({"user": [{**user, "kycStatus": "PENDING"}], "admins": []})
    diffs = compare(want, {})
    assert {(d.table, d.representable) for d in diffs} == {("User", False), ("Application", False)}
    assert "cannot hold" in diffs[0].line()


class Ledger:
    """QueryContract over a world state, List paged as the chaincode pages it (``[kind, size, bookmark]``)."""

    def __init__(self, state: dict[str, list[dict[str, Any]]], blocks: tuple[Any, ...] = ()) -> None:
        self.state, self.block_list = state, list(blocks)
        self.asked_blocks: list[int] = []
        self.pages = 0

    async def evaluate(self, channel: str, chaincode: str, fn: str, args: list[str]) -> bytes:
        name = fn.split(":")[1]
        if name == "List":
            self.pages += 1
            kind, size, start = args[0], int(args[1]), int(args[2] or 0)
            items = self.state.get(kind, [])
            more = start + size < len(items)
            page = {
                "items": items[start : start + size],
                "bookmark": str(start + size) if more else "",
                "partial": more,
            }
            return json.dumps(page).encode()
        if name == "Get" and args[0] == "system":
            return json.dumps({"status": {}, "params": {}, "admins": []}[args[1]]).encode()
        if name == "Get":
            key = {"user": "userId", "wallet": "walletId", "loan": "loanId", "org": "orgId"}[args[0]]
            found = [e for e in self.state.get(args[0], []) if e[key] == args[1]]
            return json.dumps(found[0] if found else None).encode()
        raise AssertionError(fn)

    async def chain_height(self, channel: str) -> int:
        return len(self.block_list)

    def blocks(self, channel: str, start: int) -> AsyncIterator[Any]:
        async def gen() -> AsyncIterator[Any]:
            for b in self.block_list[start:]:
                self.asked_blocks.append(b.number)
                yield b

        return gen()


def loan(i: int) -> dict[str, Any]:
    return {"loanId": f"L{i}", "borrowerId": "u1", "amount": "5", "status": "APPLIED", "approverId": None}


def test_a_kind_larger_than_a_page_is_compared_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_reads, "PAGE", 3)
    gw = Ledger({"loan": [loan(i) for i in range(5)]})
    have_loans = {(f"L{i}",): {**loan(i), "amount": 5} for i in range(5)}
    have_loans[("L4",)]["status"] = "APPROVED"  # a difference on the second page shows

    def read_models(dsn: str, height: int) -> tuple[dict[str, Any], list[Any]]:
        return {"Loan": dict(have_loans)}, []

    monkeypatch.setattr(verify, "read_models", read_models)
    monkeypatch.setattr(verify, "read_history", lambda dsn, lo, hi: {}, raising=False)
    report = asyncio.run(
        verify.verify(
            "postgresql://x",
            gw,  # type: ignore[arg-type]
            "gxchannel",
            "gxtv3",
            settle=0,
        )
    )
    assert [d.line() for d in report.differences] == ["Loan[L4].status: ledger 'APPLIED', read model 'APPROVED'"]
    assert gw.pages == 2 + 7  # loans on two pages, every other kind on one


def test_the_history_is_compared_a_window_of_blocks_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    blocks = [block_of(n, at) for n in range(7)]
    gw = Ledger({}, blocks=tuple(blocks))
    windows: list[tuple[int, int]] = []

    def read_history(dsn: str, lo: int, hi: int) -> dict[str, Any]:
        windows.append((lo, hi))
        return {}

    monkeypatch.setattr(verify, "read_models", lambda dsn, height: ({}, []))
    monkeypatch.setattr(verify, "read_history", read_history, raising=False)
    report = asyncio.run(
        verify.verify(
            "postgresql://x",
            gw,  # type: ignore[arg-type]
            "gxchannel",
            "gxtv3",
            settle=0,
            window=3,
        )
    )
    # Read window by window, then only the windows that differ again while the read models settle.
    assert windows == [(0, 3), (3, 6), (6, 7)] * 2
    assert len([d for d in report.differences if d.table == "TransactionHistory"]) == 7  # none in the database
    assert "committedAt" not in COLUMNS["TransactionHistory"]  # the repair needs it; verify does not compare it
