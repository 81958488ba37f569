"""What to do after an attempt fails: retry (after how long) or fail, and how. Pure.

- A record that cannot be read as a command (no key or one that is not UTF-8, a header that is
  not UTF-8, larger than any command can be), an invalid envelope or payload, or an unknown
  command type: REJECTED at once, dead-lettered (decided before any attempt, in
  streams.submitter.process).
- A chaincode rejection (a business rule) is no failed attempt: the chaincode records it as the
  command's answer in a transaction that commits, and the command ends FAILED
  (CHAINCODE_REJECTED) with that transaction (streams.submitter.results.committed); not
  dead-lettered (the command was valid; the ledger said no).
- The requestId recorded for another command (IDEMPOTENCY_CONFLICT, thrown by the chaincode
  against that record): FAILED at once, never retried (the record never changes).
- An error the chaincode throws and records nowhere (FORBIDDEN: the submitter's grant is missing
  or rotated; an unexpected error): a fault of the deployment, not the ledger's answer. Retried
  with backoff like an infrastructure error (charged, but never counted by the breaker), then
  FAILED as CHAINCODE_REFUSED and dead-lettered, so that `gxctl dlq replay` brings the command
  through once the deployment is fixed (a later CONFIRMED replaces the FAILED row).
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
    # A record that cannot be read as a command at all (REJECTED, dead-lettered, no attempt).
    INVALID_KEY = "INVALID_KEY"  # no key, or a key that is not UTF-8 text
    INVALID_HEADERS = "INVALID_HEADERS"  # a header value that is not UTF-8 text
    RECORD_TOO_LARGE = "RECORD_TOO_LARGE"  # larger than any command can be
    INVALID_ENVELOPE = "INVALID_ENVELOPE"
    INVALID_PAYLOAD = "INVALID_PAYLOAD"
    UNKNOWN_COMMAND_TYPE = "UNKNOWN_COMMAND_TYPE"
    CHAINCODE_REJECTED = "CHAINCODE_REJECTED"  # the ledger recorded the rejection in a committed transaction
    CHAINCODE_REFUSED = "CHAINCODE_REFUSED"  # the chaincode threw on every attempt and recorded nothing
    RETRIES_EXHAUSTED = "RETRIES_EXHAUSTED"
    INVALID_TRANSACTION = "INVALID_TRANSACTION"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"  # the (tenant, requestId) was used for another command
    SERVICE_NOT_ALLOWED = "SERVICE_NOT_ALLOWED"  # its service may not send its type (schemas.permissions)


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
    if v is Verdict.REFUSED and charged >= policy.max_attempts:
        return Outcome(Kind.FAILED, ErrorCode.CHAINCODE_REFUSED, dead_letter=True)
    if v is Verdict.INVALID:
        return Outcome(Kind.FAILED, invalid_commit_code or ErrorCode.INVALID_TRANSACTION, dead_letter=True)
    if v is Verdict.CONFLICT:
        if conflicts >= policy.max_conflicts:
            return Outcome(Kind.FAILED, ErrorCode.RETRIES_EXHAUSTED, dead_letter=True)
        return Outcome(Kind.RETRY, delay=policy.delay(min(conflicts, 6), rand))
    if charged >= policy.max_attempts:
        return Outcome(Kind.FAILED, ErrorCode.RETRIES_EXHAUSTED, dead_letter=True)
    return Outcome(Kind.RETRY, delay=policy.delay(charged, rand))
