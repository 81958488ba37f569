"""What the chaincode's response to a command says. Pure reading of its JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Answer:
    """The transaction that applied (or recorded the rejection of) the command's requestId, and the
    rejection if the chaincode recorded one."""

    applied_by: str
    rejection: str | None = None

    @staticmethod
    def read(result: bytes, tx_id: str) -> Answer:
        """The answer in ``result``, the response of transaction ``tx_id``. A response that is not
        a JSON object, or names no other transaction, is ``tx_id``'s own (never raises)."""
        try:
            doc = json.loads(result)
        except (ValueError, TypeError):
            return Answer(tx_id)
        if not isinstance(doc, dict):
            return Answer(tx_id)
        rejected = doc.get("rejected")
        message = None
        if isinstance(rejected, dict):
            message = f"{rejected.get('code') or 'REJECTED'}: {rejected.get('message') or ''}".rstrip(": ")
        first = doc.get("txId")
        return Answer(first if isinstance(first, str) and first else tx_id, message)
