"""A Python client of the Fabric Gateway (grpc.aio + hyperledger-fabric-protos).

A library: of this project it imports only the root exception (gxerrors, which imports nothing),
so that its errors are GxErrors. Modelled on the official Go client
(hyperledger/fabric-gateway pkg/client): identity and signer, proposal building, the Gateway's
steps (evaluate, endorse, submit, commit_status) as separate calls so a caller can keep many
transactions in flight, typed errors, and a pure ``classify``.
"""

from fabric_gateway.blocks import Block, BlockParseError, BlockTransaction, ChaincodeEvent, parse_block
from fabric_gateway.channel import open_channel
from fabric_gateway.classify import Disposition, Verdict, classify, verdict
from fabric_gateway.client import Endorsed, Gateway, Status
from fabric_gateway.errors import (
    CommitError,
    CommitStatusError,
    EndorseError,
    ErrorDetail,
    EvaluateError,
    GatewayError,
    SubmitError,
)
from fabric_gateway.identity import Identity, Signer, load_identity, load_signer

__all__ = [
    "Block",
    "BlockParseError",
    "BlockTransaction",
    "ChaincodeEvent",
    "CommitError",
    "CommitStatusError",
    "Disposition",
    "EndorseError",
    "Endorsed",
    "ErrorDetail",
    "EvaluateError",
    "Gateway",
    "GatewayError",
    "Identity",
    "Signer",
    "Status",
    "SubmitError",
    "Verdict",
    "classify",
    "load_identity",
    "load_signer",
    "open_channel",
    "parse_block",
    "verdict",
]
