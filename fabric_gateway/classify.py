"""Retryable or permanent? A pure function of an error, for the submitter's retry policy.

Retryable: the transaction did not take effect and the same call may succeed later:
UNAVAILABLE (gateway or peers down), DEADLINE_EXCEEDED (client timeout), RESOURCE_EXHAUSTED (the
peer's concurrency limit), and commits invalidated by MVCC_READ_CONFLICT or PHANTOM_READ_CONFLICT.
Permanent: the chaincode rejected the transaction (a business rule: "chaincode response 500, ..."),
or anything else: retrying cannot change the answer.
"""

from __future__ import annotations

from enum import Enum

import grpc

from fabric_gateway.errors import CommitError, CommitStatusError, GatewayError

RETRYABLE_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
RETRYABLE_VALIDATION = {"MVCC_READ_CONFLICT", "PHANTOM_READ_CONFLICT"}
CHAINCODE_REJECTION = "chaincode response"


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


def classify(err: BaseException) -> Disposition:
    if isinstance(err, CommitError):
        return Disposition.RETRYABLE if err.validation_code in RETRYABLE_VALIDATION else Disposition.PERMANENT
    if isinstance(err, GatewayError):
        if is_chaincode_rejection(err):
            return Disposition.PERMANENT
        if err.code in RETRYABLE_CODES:
            return Disposition.RETRYABLE
        # The status is unknown: the transaction may still commit. Asking again is safe.
        if isinstance(err, CommitStatusError):
            return Disposition.RETRYABLE
        return Disposition.PERMANENT
    return Disposition.PERMANENT
