"""Parsing full blocks (pure: protobuf in, plain data out), as the Go client's block events do.

A block's transactions are ``block.data.data`` (signed envelopes); their validation codes are one
byte each in ``block.metadata.metadata[TRANSACTIONS_FILTER]``; an endorser transaction's chaincode
event sits in each action's ChaincodeAction.events (Fabric keeps at most one per transaction).

Only what a consumer needs is decoded: the events and the invocation's arguments of VALID
transactions (an invalid transaction changed nothing, and its payload may be anything a client
sent). A transaction that cannot be decoded does not fail the block: it comes back with ``error``
set, so the blocks after it flow.
Each block carries its header hash (:func:`header_hash`, Fabric's ``protoutil.BlockHeaderHash``)
and its predecessor's, so a reader can check that blocks continue the chain it already has.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from fabric_protos.common import common_pb2
from fabric_protos.peer import (
    chaincode_event_pb2,
    chaincode_pb2,
    events_pb2,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)

from fabric_gateway.errors import GatewayError

TRANSACTIONS_FILTER = common_pb2.BlockMetadataIndex.Value("TRANSACTIONS_FILTER")


@dataclass(frozen=True)
class ChaincodeEvent:
    block: int
    tx_id: str
    chaincode: str
    name: str
    payload: bytes


@dataclass(frozen=True)
class BlockTransaction:
    """One transaction of a block. ``valid`` is true only for VALID; invalid ones carry no effect.
    ``error``: why it could not be decoded (its id, type or events are then unknown). ``args``: a
    VALID endorser transaction's chaincode invocation, the function first (empty when it could not
    be read: its events are published all the same)."""

    index: int
    tx_id: str
    header_type: str  # ENDORSER_TRANSACTION, CONFIG, ...
    validation_code: str  # TxValidationCode name
    timestamp: datetime  # the client's proposal time, from the channel header
    events: tuple[ChaincodeEvent, ...]
    error: str | None = None
    size: int = 0  # bytes of its envelope
    args: tuple[bytes, ...] = ()

    @property
    def valid(self) -> bool:
        return self.validation_code == "VALID"


@dataclass(frozen=True)
class Block:
    number: int
    transactions: tuple[BlockTransaction, ...]
    hash: bytes = b""  # this block's header hash
    previous_hash: bytes = b""  # its predecessor's header hash (empty for block 0)


class BlockParseError(GatewayError):
    """A block or one of its transactions could not be parsed."""

    def __init__(self, message: str, block: int) -> None:
        self.block = block
        super().__init__(f"block {block}: {message}")


@dataclass(frozen=True)
class FilteredBlock:
    """A block as the peer's DeliverFiltered sends it: each transaction's id and validation code."""

    number: int
    transactions: tuple[tuple[str, str], ...]  # (tx id, TxValidationCode name), in block order


def parse_filtered_block(block: events_pb2.FilteredBlock) -> FilteredBlock:
    return FilteredBlock(
        block.number, tuple((t.txid, _code_name(t.tx_validation_code)) for t in block.filtered_transactions)
    )


def _code_name(code: int) -> str:
    try:
        return transaction_pb2.TxValidationCode.Name(code)
    except ValueError:
        return f"UNKNOWN_{code}"


def chaincode_events(block: int, tx_id: str, tx_bytes: bytes) -> tuple[ChaincodeEvent, ...]:
    """The chaincode events of an endorser transaction's actions."""
    tx = transaction_pb2.Transaction.FromString(tx_bytes)
    out = []
    for action in tx.actions:
        cap = transaction_pb2.ChaincodeActionPayload.FromString(action.payload)
        prp = proposal_response_pb2.ProposalResponsePayload.FromString(cap.action.proposal_response_payload)
        cc_action = proposal_pb2.ChaincodeAction.FromString(prp.extension)
        if cc_action.events:
            ev = chaincode_event_pb2.ChaincodeEvent.FromString(cc_action.events)
            if ev.event_name:
                out.append(ChaincodeEvent(block, ev.tx_id or tx_id, ev.chaincode_id, ev.event_name, bytes(ev.payload)))
    return tuple(out)


def invocation_args(tx_bytes: bytes) -> tuple[bytes, ...]:
    """The chaincode invocation's arguments (function first) of an endorser transaction's first
    action; empty if they cannot be read (never raises: they only add to what is published)."""
    try:
        tx = transaction_pb2.Transaction.FromString(tx_bytes)
        cap = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
        cpp = proposal_pb2.ChaincodeProposalPayload.FromString(cap.chaincode_proposal_payload)
        spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(cpp.input)
    except Exception:  # protobuf's DecodeError, or no action: not what Fabric validates as VALID
        return ()
    return tuple(bytes(a) for a in spec.chaincode_spec.input.args)


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _der(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(content)) + content


def header_hash(number: int, previous_hash: bytes, data_hash: bytes) -> bytes:
    """SHA-256 of the header's ASN.1 DER encoding SEQUENCE {INTEGER number, OCTET STRING
    previous_hash, OCTET STRING data_hash}, as Fabric's protoutil.BlockHeaderHash computes it."""
    num = number.to_bytes(max(1, (number.bit_length() + 8) // 8), "big")  # a leading 0 keeps it positive
    body = _der(0x02, num) + _der(0x04, previous_hash) + _der(0x04, data_hash)
    return hashlib.sha256(_der(0x30, body)).digest()


def parse_block(block: common_pb2.Block) -> Block:
    """Every transaction of ``block`` with its id, validation code and (VALID ones) chaincode events
    and invocation arguments.

    A transaction that cannot be decoded comes back with ``error`` set. Raises BlockParseError only
    if the filter does not cover every transaction (the block itself is not what Fabric writes).
    """
    number = block.header.number
    meta = block.metadata.metadata
    flags = meta[TRANSACTIONS_FILTER] if len(meta) > TRANSACTIONS_FILTER else b""
    if len(flags) < len(block.data.data):
        raise BlockParseError(
            f"transactions filter has {len(flags)} entries for {len(block.data.data)} transactions", number
        )
    txs = []
    epoch = datetime.fromtimestamp(0, UTC)
    for i, env_bytes in enumerate(block.data.data):
        code = _code_name(flags[i])
        tx_id, htype, ts = "", "UNKNOWN", epoch
        try:
            env = common_pb2.Envelope.FromString(env_bytes)
            payload = common_pb2.Payload.FromString(env.payload)
            ch = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
            tx_id, htype = ch.tx_id, common_pb2.HeaderType.Name(ch.type)
            ts = datetime.fromtimestamp(ch.timestamp.seconds + ch.timestamp.nanos / 1e9, UTC)
            valid_endorser = code == "VALID" and ch.type == common_pb2.HeaderType.ENDORSER_TRANSACTION
            events = chaincode_events(number, ch.tx_id, payload.data) if valid_endorser else ()
        except Exception as e:  # protobuf's DecodeError, or a nested field that is not what it claims
            txs.append(
                BlockTransaction(i, tx_id, htype, code, ts, (), f"{type(e).__name__}: {e}"[:500], len(env_bytes))
            )
            continue
        args = invocation_args(payload.data) if valid_endorser else ()
        txs.append(BlockTransaction(i, tx_id, htype, code, ts, events, None, len(env_bytes), args))
    h = block.header
    return Block(number, tuple(txs), header_hash(h.number, h.previous_hash, h.data_hash), bytes(h.previous_hash))
