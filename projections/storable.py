"""What the read models can hold of the ledger's values. Pure.

The ledger may hold text Postgres cannot store (what the chaincode committed before it refused
such text): NUL (U+0000) in text or jsonb, and lone surrogates (no UTF-8 form). The projectors
dead-letter an event carrying such text (the database refuses it); `gxctl projections repair`
re-derives the rows from the ledger with each such character replaced by U+FFFD, the Unicode
replacement character, and `gxctl verify` compares the ledger's values through the same
:func:`storable`, so a repaired row matches.

An indexed value longer than a B-tree index entry can be (about 2,700 bytes; Postgres says 54000,
"index row size exceeds maximum") cannot be held at all: a 1,000-character CJK id is 3,000 bytes
of UTF-8, which the chaincode's limit of 1,000 UTF-16 units allows. :func:`holdable` tells such a
row; verify reports it apart (the read model cannot hold it; its events are dead-lettered), and
repair leaves it out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# A B-tree entry holds at most 2,704 bytes (8 kB pages); its tuple header and the columns' own
# headers take a few of them.
MAX_INDEXED_BYTES = 2600
# The read-model indexes over text columns (schemas/sql): each tuple is one index's columns.
INDEXED: dict[str, tuple[tuple[str, ...], ...]] = {
    "User": (("userId",),),
    "Application": (("applicationId",), ("userId",)),
    "Wallet": (("walletId",), ("ownerId",)),
    "TransactionHistory": (("id",), ("fromWalletId",), ("toWalletId",)),
    "LegalTenderStatus": (("countryCode",),),
    "Organization": (("orgId",),),
    "MultiSigTx": (("orgId", "multisigTxId"),),
    "Proposal": (("proposalId",),),
    "Vote": (("proposalId", "voterId"),),
    "Loan": (("loanId",), ("borrowerId",)),
    "SystemConfig": (("key",),),
    "GenesisDistribution": (("id",), ("countryCode",)),
}


def storable(value: Any) -> Any:
    """``value`` as the read models can store it: in every string (inside lists and dicts too),
    NUL and lone surrogates replaced by U+FFFD. Anything else unchanged."""
    if isinstance(value, str):
        return _UNSTORABLE.sub(REPLACEMENT, value)
    if isinstance(value, list):
        return [storable(v) for v in value]
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    return value


def holdable(table: str, row: Mapping[str, Any]) -> bool:
    """Whether every index of ``table`` can hold ``row``'s values (UTF-8 bytes of each index's
    text columns within MAX_INDEXED_BYTES)."""
    for columns in INDEXED.get(table, ()):
        size = sum(len(v.encode("utf-8", "replace")) for c in columns if isinstance(v := row.get(c), str))
        if size > MAX_INDEXED_BYTES:
            return False
    return True
