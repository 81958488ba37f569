"""Parsing full blocks (pure: protobuf in, plain data out), as the Go client's block events do.

A block's transactions are ``block.data.data`` (signed envelopes); their validation codes are one
byte each in ``block.metadata.metadata[TRANSACTIONS_FILTER]``; an endorser transaction's chaincode
event sits in each action's ChaincodeAction.events (Fabric keeps at most one per transaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from fabric_protos.common import common_pb2
from fabric_protos.peer import chaincode_event_pb2, proposal_pb2, proposal_response_pb2, transaction_pb2

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
    """One transaction of a block. ``valid`` is true only for VALID; invalid ones carry no effect."""

    index: int
    tx_id: str
    header_type: str         # ENDORSER_TRANSACTION, CONFIG, ...
    validation_code: str     # TxValidationCode name
    timestamp: datetime      # the client's proposal time, from the channel header
    events: tuple[ChaincodeEvent, ...]

    @property
    def valid(self) -> bool:
        return self.validation_code == "VALID"


@dataclass(frozen=True)
class Block:
    number: int
    transactions: tuple[BlockTransaction, ...]


class BlockParseError(GatewayError):
    """A block or one of its transactions could not be parsed."""

    def __init__(self, message: str, block: int) -> None:
        self.block = block
        super().__init__(f"block {block}: {message}", tx_id="")


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


def parse_block(block: common_pb2.Block) -> Block:
    """Every transaction of ``block`` with its id, validation code and chaincode events.

    Raises BlockParseError if an envelope is malformed or the filter does not cover every transaction.
    """
    number = block.header.number
    meta = block.metadata.metadata
    flags = meta[TRANSACTIONS_FILTER] if len(meta) > TRANSACTIONS_FILTER else b""
    if len(flags) < len(block.data.data):
        raise BlockParseError(f"transactions filter has {len(flags)} entries for {len(block.data.data)} transactions",
                              number)
    txs = []
    for i, env_bytes in enumerate(block.data.data):
        try:
            env = common_pb2.Envelope.FromString(env_bytes)
            payload = common_pb2.Payload.FromString(env.payload)
            ch = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
            htype = common_pb2.HeaderType.Name(ch.type)
            code = _code_name(flags[i])
            events = (chaincode_events(number, ch.tx_id, payload.data)
                      if ch.type == common_pb2.HeaderType.ENDORSER_TRANSACTION else ())
        except Exception as e:  # protobuf's DecodeError, or a nested field that is not what it claims
            raise BlockParseError(f"transaction {i}: {type(e).__name__}: {e}", number) from e
        ts = datetime.fromtimestamp(ch.timestamp.seconds + ch.timestamp.nanos / 1e9, UTC)
        txs.append(BlockTransaction(i, ch.tx_id, htype, code, ts, events))
    return Block(number, tuple(txs))
