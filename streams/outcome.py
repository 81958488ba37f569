"""What to do after an attempt fails: retry (after how long) or fail, and how. Pure.

- An invalid envelope or payload, or an unknown command type: REJECTED at once, dead-lettered
  (decided before any attempt, in streams.submitter.process).
- A chaincode rejection (a business rule): FAILED at once with the chaincode's message; not
  dead-lettered (the command was valid; the ledger said no), never retried.
- A transaction committed invalid for a reason other than a conflict: FAILED with its validation
  code and dead-lettered.
- An MVCC conflict: another transaction on the same keys won the block, so progress was made;
  retried with backoff up to ``max_conflicts`` (30), which no ordinary contention reaches, and
  not charged to ``max_attempts``: a burst on a hot key waits its turn instead of failing.
- Anything else (a refused request, any infrastructure error): retried with exponential backoff
  and full jitter up to ``max_attempts`` charged attempts; then FAILED (RETRIES_EXHAUSTED) and
  dead-lettered. Attempts made while the breaker is open are not charged (streams.submitter.state), so
  an outage makes commands wait, never fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from fabric_gateway.classify import Verdict


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
    INTERNAL_ERROR = "INTERNAL_ERROR"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"  # the (tenant, requestId) was used for another command


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 10.0
    max_conflicts: int = 30

    def delay(self, attempt: int, rand: float) -> float:
        """Full jitter: uniform in [0, min(max, base * 2^(attempt-1))); ``rand`` in [0, 1)."""
        return rand * min(self.max_delay, self.base_delay * 2 ** (attempt - 1))


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    error_code: str | None = None
    dead_letter: bool = False
    delay: float = 0.0


def after_failure(
    v: Verdict,
    charged: int,
    policy: RetryPolicy,
    rand: float,
    invalid_commit_code: str | None = None,
    chaincode_message: str | None = None,
    conflicts: int = 0,
) -> Outcome:
    """The outcome of a failed attempt with verdict ``v``: the ``charged``-th attempt that counts,
    or the ``conflicts``-th conflict."""
    if v is Verdict.REJECTED:
        conflict = chaincode_message is not None and ErrorCode.IDEMPOTENCY_CONFLICT in chaincode_message
        return Outcome(Kind.FAILED, ErrorCode.IDEMPOTENCY_CONFLICT if conflict else ErrorCode.CHAINCODE_REJECTED)
    if v is Verdict.INVALID:
        return Outcome(Kind.FAILED, invalid_commit_code or ErrorCode.INVALID_TRANSACTION, dead_letter=True)
    if v is Verdict.CONFLICT:
        if conflicts >= policy.max_conflicts:
            return Outcome(Kind.FAILED, ErrorCode.RETRIES_EXHAUSTED, dead_letter=True)
        return Outcome(Kind.RETRY, delay=policy.delay(min(conflicts, 6), rand))
    if charged >= policy.max_attempts:
        return Outcome(Kind.FAILED, ErrorCode.RETRIES_EXHAUSTED, dead_letter=True)
    return Outcome(Kind.RETRY, delay=policy.delay(charged, rand))
