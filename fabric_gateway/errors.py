"""Typed errors, like the official Gateway clients'. Each carries the transaction id and gRPC status.

GatewayError (a gxerrors.GxError: the one module of the project this package imports, see there)
├── EvaluateError      evaluate failed (a query; nothing was submitted)
├── EndorseError       endorsement failed: the chaincode rejected it, or no peer could endorse
├── SubmitError        the orderer did not accept the endorsed transaction
├── CommitStatusError  the commit status could not be obtained (the transaction may still commit)
├── CommitError        the transaction was committed as INVALID (e.g. MVCC_READ_CONFLICT)
├── BlockParseError    a block could not be parsed (fabric_gateway.blocks)
└── KeyFileError       a private key file others may read, or that cannot be read (fabric_gateway.identity)
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from gxerrors import GxError


@dataclass(frozen=True)
class ErrorDetail:
    """One endorsing peer's account of a failure (gateway.ErrorDetail)."""

    address: str
    msp_id: str
    message: str


class GatewayError(GxError):
    """Root of this package's errors.

    ``tx_id``: the transaction ("" when the failure concerns none: a block stream, a key file);
    ``code``: the gRPC status code (None when the failure is not a gRPC one, e.g. CommitError);
    ``details``: per-peer ErrorDetails from the Gateway.
    """

    def __init__(
        self, message: str, tx_id: str = "", code: grpc.StatusCode | None = None, details: tuple[ErrorDetail, ...] = ()
    ) -> None:
        self.tx_id = tx_id
        self.code = code
        self.details = details
        # Set by fabric_gateway.failover when this failure moved the client to another endpoint:
        # one peer's, not the network's (the breaker does not count it).
        self.failed_over = False
        text = message
        if code is not None:
            text = f"{code.name}: {text}"
        if details:
            text += "; " + "; ".join(f"{d.address} ({d.msp_id}): {d.message}" for d in details)
        super().__init__(f"{text} [txid {tx_id}]" if tx_id else text)
        self.message = message


class EvaluateError(GatewayError):
    pass


class EndorseError(GatewayError):
    pass


class SubmitError(GatewayError):
    pass


class CommitStatusError(GatewayError):
    pass


class CommitError(GatewayError):
    """Committed, but invalid. ``validation_code`` is the TxValidationCode name; ``block`` its block."""

    def __init__(self, tx_id: str, validation_code: str, block: int) -> None:
        self.validation_code = validation_code
        self.block = block
        super().__init__(f"transaction committed as invalid: {validation_code} in block {block}", tx_id)
