"""Building transaction proposals (pure: no I/O), as proposalbuilder.go does.

txid = hex(sha256(nonce + creator)) with a 24-byte random nonce; the proposal's header carries
the channel, the txid, a timestamp and the chaincode name; its payload the function and args.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fabric_protos.common import common_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2
from google.protobuf import timestamp_pb2

from fabric_gateway.identity import Identity

NONCE_LENGTH = 24


def tx_id(nonce: bytes, creator: bytes) -> str:
    return hashlib.sha256(nonce + creator).hexdigest()


@dataclass(frozen=True)
class Proposal:
    tx_id: str
    channel: str
    proposal_bytes: bytes


def new_proposal(
    identity: Identity,
    channel: str,
    chaincode: str,
    function: str,
    args: Sequence[str | bytes],
    transient: Mapping[str, bytes] | None = None,
    nonce: bytes | None = None,
    timestamp: timestamp_pb2.Timestamp | None = None,
    tls_cert_hash: bytes = b"",
) -> Proposal:
    """A proposal to call ``function`` (``Contract:Function`` for contract-API chaincode) with
    ``args``; ``tls_cert_hash`` binds it to the client's TLS certificate (mutual TLS)."""
    nonce = nonce if nonce is not None else os.urandom(NONCE_LENGTH)
    creator = identity.creator()
    txid = tx_id(nonce, creator)
    if timestamp is None:
        timestamp = timestamp_pb2.Timestamp()
        timestamp.GetCurrentTime()
    cc_id = chaincode_pb2.ChaincodeID(name=chaincode)
    channel_header = common_pb2.ChannelHeader(
        type=common_pb2.HeaderType.ENDORSER_TRANSACTION,
        tx_id=txid,
        timestamp=timestamp,
        channel_id=channel,
        extension=proposal_pb2.ChaincodeHeaderExtension(chaincode_id=cc_id).SerializeToString(),
        epoch=0,
        tls_cert_hash=tls_cert_hash,
    )
    signature_header = common_pb2.SignatureHeader(creator=creator, nonce=nonce)
    header = common_pb2.Header(
        channel_header=channel_header.SerializeToString(), signature_header=signature_header.SerializeToString()
    )
    raw_args = [a if isinstance(a, bytes) else a.encode() for a in (function, *args)]
    spec = chaincode_pb2.ChaincodeInvocationSpec(
        chaincode_spec=chaincode_pb2.ChaincodeSpec(
            type=chaincode_pb2.ChaincodeSpec.Type.GOLANG,
            chaincode_id=cc_id,
            input=chaincode_pb2.ChaincodeInput(args=raw_args),
        )
    )
    payload = proposal_pb2.ChaincodeProposalPayload(input=spec.SerializeToString(), TransientMap=dict(transient or {}))
    proposal = proposal_pb2.Proposal(header=header.SerializeToString(), payload=payload.SerializeToString())
    return Proposal(txid, channel, proposal.SerializeToString())
