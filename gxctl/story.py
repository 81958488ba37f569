"""A command's story, from its outbox row, for `gxctl commands show` (pure: a row in, lines out)."""

from __future__ import annotations

import json
from typing import Any


def _v(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def story(row: dict[str, Any]) -> list[str]:
    """Lines telling where the command went: outbox, Kafka, each attempt, the ledger, the outcome."""
    lines = [
        f"command   {row['commandType']}  requestId {row['requestId']}  (id {row['id']}, tenant {row['tenantId']}, "
        f"{row['service']})",
        f"payload   {json.dumps(row['payload'], sort_keys=True)}",
        f"outbox    inserted {_v(row.get('createdAt'))}, key {_v(row.get('partitionKey'))}",
    ]
    if row.get("kafkaPartition") is not None:
        lines.append(f"kafka     gx.commands partition {row['kafkaPartition']} offset {row['kafkaOffset']}")
    elif row["status"] in ("PENDING", "LOCKED"):
        lines.append(
            "kafka     no result yet: not consumed, or the submitter and results writer are not running (gxctl status)"
        )
    for a in row.get("attemptLog") or []:
        what = a["outcome"] if not a.get("errorClass") else f"{a['outcome']}: {a['errorClass']} {_v(a.get('code'))}"
        lines.append(
            f"attempt {a['attempt']} tx {_v(a.get('txId'))[:16]}  {what}"
            + (f"  {a['message'][:160]}" if a.get("message") else "")
        )
    if row.get("fabricTxId") and row.get("commitBlock") is not None:
        lines.append(
            f"ledger    tx {row['fabricTxId']} in block {row['commitBlock']}"
            + (f" ({row['validationCode']})" if row.get("validationCode") else "")
        )
    elif row.get("fabricTxId"):
        lines.append(f"ledger    nothing written: tx {row['fabricTxId']} was never committed")
    outcome = f"status    {row['status']} after {row['attempts']} attempt(s), updated {_v(row.get('updatedAt'))}"
    if row.get("errorCode"):
        outcome += f"\nerror     {row['errorCode']}: {_v(row.get('error'))}"
    lines.append(outcome)
    return lines
