"""What to do after an attempt: confirm, retry (after how long), fail, or reject. Pure.

- An invalid envelope or payload, or an unknown command type: REJECTED at once, dead-lettered.
- A chaincode rejection (a business rule): FAILED at once with the chaincode's message; not
  dead-lettered (the command was valid; the ledger said no), never retried.
- A transient error (UNAVAILABLE, DEADLINE_EXCEEDED, MVCC/phantom conflicts): retried with
  exponential backoff and full jitter up to ``max_attempts``; then FAILED and dead-lettered.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    CONFIRMED = "CONFIRMED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"
    RETRY = "RETRY"


class ErrorCode:
    INVALID_ENVELOPE = "INVALID_ENVELOPE"
    INVALID_PAYLOAD = "INVALID_PAYLOAD"
    UNKNOWN_COMMAND_TYPE = "UNKNOWN_COMMAND_TYPE"
    CHAINCODE_REJECTED = "CHAINCODE_REJECTED"
    RETRIES_EXHAUSTED = "RETRIES_EXHAUSTED"
    INVALID_TRANSACTION = "INVALID_TRANSACTION"
    KEY_PARKED = "KEY_PARKED"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 10.0

    def delay(self, attempt: int, rand: float) -> float:
        """Full jitter: uniform in [0, min(max, base * 2^(attempt-1))); ``rand`` in [0, 1)."""
        return rand * min(self.max_delay, self.base_delay * 2 ** (attempt - 1))


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    error_code: str | None = None
    dead_letter: bool = False
    delay: float = 0.0


def after_failure(retryable: bool, chaincode_rejection: bool, attempt: int, policy: RetryPolicy,
                  rand: float, invalid_commit_code: str | None = None) -> Outcome:
    """The outcome of a failed attempt number ``attempt`` (1-based)."""
    if chaincode_rejection:
        return Outcome(Kind.FAILED, ErrorCode.CHAINCODE_REJECTED)
    if not retryable:
        return Outcome(Kind.FAILED, invalid_commit_code or ErrorCode.INVALID_TRANSACTION, dead_letter=True)
    if attempt >= policy.max_attempts:
        return Outcome(Kind.FAILED, ErrorCode.RETRIES_EXHAUSTED, dead_letter=True)
    return Outcome(Kind.RETRY, delay=policy.delay(attempt, rand))
