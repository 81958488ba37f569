"""`gxctl verify` reads a kind page by page (QueryContract List is paged since issue 31)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from projections.ledger_reads import PAGE, every_page


class _Pages:
    """A gateway whose List answers ``items`` in pages of ``size``, as the chaincode does."""

    def __init__(self, items: list[int], size: int) -> None:
        self.items, self.size, self.calls = items, size, []  # type: ignore[var-annotated]

    async def evaluate(self, channel: str, chaincode: str, fn: str, args: list[str]) -> bytes:
        self.calls.append((fn, args))
        start = int(args[-1] or 0)
        page = self.items[start : start + self.size]
        more = start + self.size < len(self.items)
        return json.dumps({"items": page, "bookmark": str(start + self.size) if more else "", "partial": more}).encode()


def test_every_page_is_read_until_one_is_not_partial() -> None:
    gw = _Pages(list(range(7)), 3)
    items: list[Any] = asyncio.run(every_page(gw, "ch", "cc", "List", "user"))  # type: ignore[arg-type]
    assert items == list(range(7))
    assert [args for _, args in gw.calls] == [
        ["user", str(PAGE), ""],
        ["user", str(PAGE), "3"],
        ["user", str(PAGE), "6"],
    ]
    assert {fn for fn, _ in gw.calls} == {"QueryContract:List"}
