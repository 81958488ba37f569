"""Reading the ledger for a comparison or a repair, through the gateway: the chaincode's world state
(QueryContract) and the events of its blocks (Deliver).

- :func:`ledger_state`: every entity of each kind, read page by page (QueryContract List is paged:
  one range query per page, so the peer's ``totalQueryLimit`` never cuts a listing short).
- :func:`entities`: some entities of a kind, by key (Get, GetIn).
- :func:`history_windows`: the TransactionHistory and GenesisDistribution rows the events of the
  ledger's blocks imply (projections.expected.expected_history), a window of blocks at a time, so
  that no more than one window's events is ever in memory.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

from fabric_gateway import Gateway
from projections.expected import Rows, expected_history

KINDS = ("user", "wallet", "country", "org", "msig", "loan", "proposal", "vote")
SYSTEM_KEYS = ("status", "params", "admins")
# Entities per page of QueryContract:List / ListRequests (the chaincode allows 1 to 1000).
PAGE = 500
# The read-model table each kind fills, and its key fields on the ledger's objects.
TABLES: dict[str, tuple[str, ...]] = {
    "User": ("user",),
    "Application": ("user",),
    "Wallet": ("wallet",),
    "LegalTenderStatus": ("country",),
    "Organization": ("org",),
    "MultiSigTx": ("msig",),
    "Loan": ("loan",),
    "Proposal": ("proposal",),
    "Vote": ("vote",),
    "SystemConfig": (),
}
HISTORY_WINDOW = 500  # blocks


async def _call(gw: Gateway, channel: str, chaincode: str, fn: str, *args: str) -> Any:
    return json.loads(await gw.evaluate(channel, chaincode, f"QueryContract:{fn}", list(args)))


async def every_page(gw: Gateway, channel: str, chaincode: str, fn: str, *args: str) -> list[Any]:
    """Every item of a paged QueryContract list (List, ListRequests): page after page until one is
    not partial, so a kind larger than the peer's total query limit is read whole."""
    items: list[Any] = []
    bookmark = ""
    while True:
        page = json.loads(await gw.evaluate(channel, chaincode, f"QueryContract:{fn}", [*args, str(PAGE), bookmark]))
        items += page["items"]
        if not page["partial"]:
            return items
        bookmark = page["bookmark"]


async def system(gw: Gateway, channel: str, chaincode: str) -> dict[str, Any]:
    """The system's status, parameters and admins."""
    return {k: await _call(gw, channel, chaincode, "Get", "system", k) for k in SYSTEM_KEYS}


async def ledger_state(gw: Gateway, channel: str, chaincode: str) -> dict[str, Any]:
    """Every entity per kind, and the system's status, parameters and admins."""
    state: dict[str, Any] = {kind: await of_kind(gw, channel, chaincode, kind) for kind in KINDS}
    state.update(await system(gw, channel, chaincode))
    return state


async def of_kind(gw: Gateway, channel: str, chaincode: str, kind: str) -> list[dict[str, Any]]:
    """Every entity of ``kind`` (List, page by page)."""
    return list(await every_page(gw, channel, chaincode, "List", kind))


def kind_of(table: str) -> str:
    """The ledger's kind behind a read-model table (SystemConfig: the system's keys)."""
    return TABLES[table][0] if TABLES[table] else "system"


def _ids(table: str, key: tuple[Any, ...]) -> tuple[str, tuple[str, ...]]:
    """The kind and the QueryContract ids of the entity behind a read-model row's key."""
    if table == "Application":
        return "user", (str(key[0]).removeprefix("KYC:"),)
    kinds = TABLES[table]
    return kinds[0], tuple(str(k) for k in key)


async def entities(
    gw: Gateway, channel: str, chaincode: str, table: str, keys: Iterable[tuple[Any, ...]]
) -> list[dict[str, Any]]:
    """The ledger's entities behind ``keys`` of ``table`` that exist (Get, or GetIn for two ids)."""
    out = []
    for key in keys:
        kind, ids = _ids(table, key)
        fn = "Get" if len(ids) == 1 else "GetIn"
        found = await _call(gw, channel, chaincode, fn, kind, *ids)
        if found:
            out.append(found)
    return out


async def history_windows(
    gw: Gateway, channel: str, chaincode: str, height: int, window: int = HISTORY_WINDOW
) -> AsyncIterator[tuple[int, int, dict[str, Rows]]]:
    """(first block, end block, expected history rows of blocks [first, end)) for blocks 0 to
    ``height - 1``, read through Deliver and decoded as the block publisher decodes them."""
    from schemas.events import PayloadError, parse_event
    from streams.block_events import block_out

    if height <= 0:
        return
    events: list[tuple[Any, Any]] = []
    first = 0
    blocks = gw.blocks(channel, 0)
    try:
        async for b in blocks:
            for r in block_out(b, channel, 1, chaincode).records:
                try:
                    events.append(parse_event(r.value))
                except PayloadError:
                    pass  # the projections refuse it too, visibly (their dead-letter topic)
            last = b.number >= height - 1
            if b.number + 1 - first >= window or last:
                yield first, b.number + 1, expected_history(events)
                events, first = [], b.number + 1
            if last:
                break
    finally:
        await blocks.aclose()
