"""Block parsing (pure): transactions, validation codes, chaincode events; malformed blocks refused."""

from __future__ import annotations

import pytest
from fabric_protos.common import common_pb2
from fabric_protos.peer import chaincode_event_pb2, proposal_pb2, proposal_response_pb2, transaction_pb2
from google.protobuf import timestamp_pb2

from fabric_gateway import BlockParseError, parse_block


def _endorser_tx(tx_id: str, event: str | None) -> bytes:
    action = proposal_pb2.ChaincodeAction()
    if event:
        action.events = chaincode_event_pb2.ChaincodeEvent(chaincode_id="gxtv3", tx_id=tx_id, event_name=event,
                                                           payload=b'{"a":1}').SerializeToString()
    prp = proposal_response_pb2.ProposalResponsePayload(extension=action.SerializeToString())
    cap = transaction_pb2.ChaincodeActionPayload(
        action=transaction_pb2.ChaincodeEndorsedAction(proposal_response_payload=prp.SerializeToString()))
    tx = transaction_pb2.Transaction(actions=[transaction_pb2.TransactionAction(payload=cap.SerializeToString())])
    ch = common_pb2.ChannelHeader(type=common_pb2.HeaderType.ENDORSER_TRANSACTION, tx_id=tx_id,
                                  timestamp=timestamp_pb2.Timestamp(seconds=1_700_000_000, nanos=500_000_000))
    payload = common_pb2.Payload(header=common_pb2.Header(channel_header=ch.SerializeToString()),
                                 data=tx.SerializeToString())
    return common_pb2.Envelope(payload=payload.SerializeToString()).SerializeToString()


def _block(number: int, txs: list[bytes], codes: list[int]) -> common_pb2.Block:
    b = common_pb2.Block(header=common_pb2.BlockHeader(number=number))
    b.data.data.extend(txs)
    b.metadata.metadata.extend([b"", b"", bytes(codes)])
    return b


def test_transactions_codes_and_events_in_order() -> None:
    block = parse_block(_block(7, [_endorser_tx("t1", "TokensTransferred"), _endorser_tx("t2", None),
                                   _endorser_tx("t3", "UserCreated")],
                               [transaction_pb2.VALID, transaction_pb2.VALID, transaction_pb2.MVCC_READ_CONFLICT]))
    assert block.number == 7
    assert [(t.index, t.tx_id, t.validation_code, t.valid) for t in block.transactions] == [
        (0, "t1", "VALID", True), (1, "t2", "VALID", True), (2, "t3", "MVCC_READ_CONFLICT", False)]
    assert [(e.block, e.tx_id, e.chaincode, e.name, e.payload) for e in block.transactions[0].events] == [
        (7, "t1", "gxtv3", "TokensTransferred", b'{"a":1}')]
    assert block.transactions[1].events == ()
    assert block.transactions[0].timestamp.timestamp() == 1_700_000_000.5


def test_a_filter_shorter_than_the_transactions_is_refused() -> None:
    with pytest.raises(BlockParseError, match="block 3: transactions filter has 1 entries for 2 transactions"):
        parse_block(_block(3, [_endorser_tx("a", None), _endorser_tx("b", None)], [0]))


def test_a_malformed_envelope_names_the_block_and_transaction() -> None:
    with pytest.raises(BlockParseError, match="block 4: transaction 0: DecodeError"):
        parse_block(_block(4, [b"\xff\xff\xff"], [0]))
