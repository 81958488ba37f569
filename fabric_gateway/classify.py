"""What a failed call says about the command and about Fabric: a pure function of the error.

Only two answers are final for a command, because only they come from the ledger's own rules:

- REJECTED: the chaincode refused the transaction (its own error, which Fabric's gateway reports
  as "chaincode response <status>, <message>");
- INVALID: the transaction was committed as invalid for a reason retrying cannot change (e.g.
  ENDORSEMENT_POLICY_FAILURE).

Everything else says nothing about the command, and is retried:

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
CHAINCODE_REJECTION = "chaincode response"
REQUEST_CODES = {grpc.StatusCode.INVALID_ARGUMENT}


class Verdict(Enum):
    REJECTED = "rejected"  # final: the chaincode said no
    INVALID = "invalid"  # final: committed invalid, not a conflict
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


def is_chaincode_rejection(err: GatewayError) -> bool:
    """True if a peer reports the chaincode itself refused (its message, not an infrastructure fault)."""
    return any(CHAINCODE_REJECTION in d.message for d in err.details) or CHAINCODE_REJECTION in err.message


def chaincode_message(err: GatewayError) -> str | None:
    """The chaincode's own words for a rejection ("chaincode response 500, <message>"), else None."""
    msgs = [d.message for d in err.details if CHAINCODE_REJECTION in d.message]
    if msgs:
        return "; ".join(dict.fromkeys(msgs))
    return err.message if CHAINCODE_REJECTION in err.message else None


def verdict(err: BaseException) -> Verdict:
    """The verdict on one failed call (see the module's doc). A non-gateway error is REJECTED only
    in the sense that nothing here can retry it: callers handle their own exceptions first."""
    if isinstance(err, CommitError):
        return Verdict.CONFLICT if err.validation_code in RETRYABLE_VALIDATION else Verdict.INVALID
    if not isinstance(err, GatewayError):
        return Verdict.REJECTED
    if is_chaincode_rejection(err):
        return Verdict.REJECTED
    if isinstance(err, CommitStatusError):
        return Verdict.INFRA
    if err.code in REQUEST_CODES:
        return Verdict.REQUEST
    return Verdict.INFRA


def classify(err: BaseException) -> Disposition:
    """RETRYABLE unless the verdict is final (see :func:`verdict`)."""
    return Disposition.PERMANENT if verdict(err).final else Disposition.RETRYABLE
