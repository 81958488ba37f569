"""What a failed call says about the command and about Fabric: a pure function of the error.

Only two answers are final for a command, because only they come from what the ledger holds:

- REJECTED: the chaincode refused the request because of a record the ledger already holds for
  its requestId (IDEMPOTENCY_CONFLICT: the (tenant, requestId) was used for another command);
  that record never changes, so neither does the answer;
- INVALID: the transaction was committed as invalid for a reason retrying cannot change (e.g.
  ENDORSEMENT_POLICY_FAILURE).

A business rule's rejection is no error at all: the chaincode records it as the command's answer
in a transaction that commits VALID (streams.submitter.answer reads it). So an error the chaincode
*throws* (Fabric's gateway reports it as "chaincode response <status>, <message>") was recorded
nowhere, and a later delivery of the command may still apply it.

Everything else says nothing about the command, and is retried:

- REFUSED: the chaincode threw (FORBIDDEN for a submitter whose grant is missing or rotated, or
  an unexpected error): a fault of the deployment, not the ledger's answer. Retried up to the
  command's attempts (then dead-lettered, to be replayed once fixed), never counted as an outage;
- CONFLICT: committed as MVCC_READ_CONFLICT or PHANTOM_READ_CONFLICT: Fabric answering under
  contention, retried with a new transaction, and no sign of an outage;
- REQUEST: the gateway found the request itself malformed (INVALID_ARGUMENT): retried up to the
  command's attempts, never counted as an outage (one bad request must not open the breaker);
- INFRA: any other gRPC status, e.g. UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED (the
  peer's concurrency limit), ABORTED whose peer details are connection or simulation failures (a
  chaincode service that is down answers so), PERMISSION_DENIED (an expired certificate),
  NOT_FOUND (a chaincode being upgraded), CANCELLED, FAILED_PRECONDITION, and a commit status
  that could not be read (the transaction may still commit). Retried and counted by the breaker.
"""

from __future__ import annotations

from enum import Enum

import grpc

from fabric_gateway.errors import CommitError, CommitStatusError, GatewayError

RETRYABLE_VALIDATION = {"MVCC_READ_CONFLICT", "PHANTOM_READ_CONFLICT"}
CHAINCODE_ERROR = "chaincode response"
# The one error the chaincode throws that answers from a ledger record (streams.outcome names it too).
RECORDED_REQUEST_CONFLICT = "IDEMPOTENCY_CONFLICT"
REQUEST_CODES = {grpc.StatusCode.INVALID_ARGUMENT}


class Verdict(Enum):
    REJECTED = "rejected"  # final: refused for a record the ledger holds (IDEMPOTENCY_CONFLICT)
    INVALID = "invalid"  # final: committed invalid, not a conflict
    REFUSED = "refused"  # retry; the chaincode threw and recorded nothing (FORBIDDEN, a bug)
    CONFLICT = "conflict"  # retry with a new transaction; Fabric is fine
    REQUEST = "request"  # retry; the request was refused, Fabric is fine
    INFRA = "infra"  # retry; Fabric (or the way to it) is failing: the breaker counts it

    @property
    def final(self) -> bool:
        return self in (Verdict.REJECTED, Verdict.INVALID)

    @property
    def outage(self) -> bool:
        """Whether the breaker counts it as a sign that Fabric is unreachable or failing."""
        return self is Verdict.INFRA


class Disposition(Enum):
    RETRYABLE = "retryable"
    PERMANENT = "permanent"


def is_chaincode_error(err: GatewayError) -> bool:
    """True if a peer reports an error the chaincode itself threw (its message, not an
    infrastructure fault). Such an error is recorded nowhere on the ledger."""
    return any(CHAINCODE_ERROR in d.message for d in err.details) or CHAINCODE_ERROR in err.message


def chaincode_message(err: GatewayError) -> str | None:
    """The chaincode's own words for an error it threw ("chaincode response 500, <message>"), else None."""
    msgs = [d.message for d in err.details if CHAINCODE_ERROR in d.message]
    if msgs:
        return "; ".join(dict.fromkeys(msgs))
    return err.message if CHAINCODE_ERROR in err.message else None


def verdict(err: BaseException) -> Verdict:
    """The verdict on one failed call (see the module's doc). A non-gateway error is REJECTED only
    in the sense that nothing here can retry it: callers handle their own exceptions first."""
    if isinstance(err, CommitError):
        return Verdict.CONFLICT if err.validation_code in RETRYABLE_VALIDATION else Verdict.INVALID
    if not isinstance(err, GatewayError):
        return Verdict.REJECTED
    if is_chaincode_error(err):
        return Verdict.REJECTED if RECORDED_REQUEST_CONFLICT in (chaincode_message(err) or "") else Verdict.REFUSED
    if isinstance(err, CommitStatusError):
        return Verdict.INFRA
    if err.code in REQUEST_CODES:
        return Verdict.REQUEST
    return Verdict.INFRA


def classify(err: BaseException) -> Disposition:
    """RETRYABLE unless the verdict is final (see :func:`verdict`)."""
    return Disposition.PERMANENT if verdict(err).final else Disposition.RETRYABLE
