"""Block parsing (pure): transactions, validation codes, chaincode events; malformed blocks refused."""

from __future__ import annotations

import pytest
from fabric_protos.common import common_pb2
from fabric_protos.peer import chaincode_event_pb2, chaincode_pb2, proposal_pb2, proposal_response_pb2, transaction_pb2
from google.protobuf import timestamp_pb2

from fabric_gateway import BlockParseError, parse_block

# protoutil.BlockHeaderHash vectors, from Go's encoding/asn1 with Fabric 3.1.5's asn1Header struct
# (previous hash 32 x 0x01, data hash 32 x 0x02; the last: block 0 with no previous hash).
FABRIC_HASH_2 = "340330af5269d22a4217fb37092b46f102269a7307799ca8fa74b4838d4941fa"
FABRIC_HASHES = {
    0: "48ee5465372625f0dd4423b11bea48e2046bc641e87cb725acd138f74de45c12",
    200: "bd15aedbdddae9a881433d485e99d4df8e0cebd38c042ac2d138af42f99d50cf",
    1 << 40: "660eb4035cddc64fff70ac43df80efaab3bc557d3d4f3660491a761e94094605",
}
FABRIC_HASH_0_NO_PREVIOUS = "0a3e038c1e47233245443e7b5d6f0b9a22bbf19120874368460d2145368442e4"


def _invocation(*args: bytes) -> bytes:
    """A ChaincodeProposalPayload as a transaction carries it: the invocation's args, function first."""
    spec = chaincode_pb2.ChaincodeInvocationSpec(
        chaincode_spec=chaincode_pb2.ChaincodeSpec(input=chaincode_pb2.ChaincodeInput(args=list(args)))
    )
    return proposal_pb2.ChaincodeProposalPayload(input=spec.SerializeToString()).SerializeToString()


def _endorser_tx(tx_id: str, event: str | None, proposal_payload: bytes = b"") -> bytes:
    action = proposal_pb2.ChaincodeAction()
    if event:
        action.events = chaincode_event_pb2.ChaincodeEvent(
            chaincode_id="gxtv3", tx_id=tx_id, event_name=event, payload=b'{"a":1}'
        ).SerializeToString()
    prp = proposal_response_pb2.ProposalResponsePayload(extension=action.SerializeToString())
    cap = transaction_pb2.ChaincodeActionPayload(
        chaincode_proposal_payload=proposal_payload,
        action=transaction_pb2.ChaincodeEndorsedAction(proposal_response_payload=prp.SerializeToString()),
    )
    tx = transaction_pb2.Transaction(actions=[transaction_pb2.TransactionAction(payload=cap.SerializeToString())])
    ch = common_pb2.ChannelHeader(
        type=common_pb2.HeaderType.ENDORSER_TRANSACTION,
        tx_id=tx_id,
        timestamp=timestamp_pb2.Timestamp(seconds=1_700_000_000, nanos=500_000_000),
    )
    payload = common_pb2.Payload(
        header=common_pb2.Header(channel_header=ch.SerializeToString()), data=tx.SerializeToString()
    )
    return common_pb2.Envelope(payload=payload.SerializeToString()).SerializeToString()


def _block(number: int, txs: list[bytes], codes: list[int]) -> common_pb2.Block:
    b = common_pb2.Block(header=common_pb2.BlockHeader(number=number))
    b.data.data.extend(txs)
    b.metadata.metadata.extend([b"", b"", bytes(codes)])
    return b


def test_transactions_codes_and_events_in_order() -> None:
    block = parse_block(
        _block(
            7,
            [_endorser_tx("t1", "TokensTransferred"), _endorser_tx("t2", None), _endorser_tx("t3", "UserCreated")],
            [transaction_pb2.VALID, transaction_pb2.VALID, transaction_pb2.MVCC_READ_CONFLICT],
        )
    )
    assert block.number == 7
    assert [(t.index, t.tx_id, t.validation_code, t.valid) for t in block.transactions] == [
        (0, "t1", "VALID", True),
        (1, "t2", "VALID", True),
        (2, "t3", "MVCC_READ_CONFLICT", False),
    ]
    assert [(e.block, e.tx_id, e.chaincode, e.name, e.payload) for e in block.transactions[0].events] == [
        (7, "t1", "gxtv3", "TokensTransferred", b'{"a":1}')
    ]
    assert block.transactions[1].events == ()
    assert block.transactions[0].timestamp.timestamp() == 1_700_000_000.5


def test_a_filter_shorter_than_the_transactions_is_refused() -> None:
    with pytest.raises(BlockParseError, match="block 3: transactions filter has 1 entries for 2 transactions"):
        parse_block(_block(3, [_endorser_tx("a", None), _endorser_tx("b", None)], [0]))


def test_a_malformed_transaction_is_named_and_does_not_stop_the_block() -> None:
    """Issue 22: one malformed transaction raised on every retry and halted the read side."""
    block = parse_block(_block(4, [b"\xff\xff\xff", _endorser_tx("ok", "UserCreated")], [0, 0]))
    bad, ok = block.transactions
    assert bad.error is not None and bad.error.startswith("DecodeError") and bad.events == () and bad.size == 3
    assert ok.error is None and [e.name for e in ok.events] == ["UserCreated"]


def test_an_invalid_transactions_events_are_never_decoded() -> None:
    """Its payload may be anything a client sent: decoding it used to fail the whole block."""
    garbage_events = _endorser_tx("t1", None)
    env = common_pb2.Envelope.FromString(garbage_events)
    payload = common_pb2.Payload.FromString(env.payload)
    payload.data = b"\x0a\x05\xff\xff"  # a Transaction whose action payload is not a ChaincodeActionPayload
    broken = common_pb2.Envelope(payload=payload.SerializeToString()).SerializeToString()
    block = parse_block(_block(5, [broken], [transaction_pb2.ENDORSEMENT_POLICY_FAILURE]))
    [tx] = block.transactions
    assert (tx.tx_id, tx.valid, tx.events, tx.error) == ("t1", False, (), None)


def test_the_header_hash_is_fabrics() -> None:
    """The DER encoding of protoutil.BlockHeaderBytes, SHA-256: checked against a value computed by
    Fabric 3.1.5's protoutil.BlockHeaderHash (number 2, previous hash 32 x 0x01, data hash 32 x 0x02)."""
    from fabric_gateway.blocks import header_hash

    assert header_hash(2, b"\x01" * 32, b"\x02" * 32).hex() == FABRIC_HASH_2
    for n, want in FABRIC_HASHES.items():
        assert header_hash(n, b"\x01" * 32, b"\x02" * 32).hex() == want, n
    assert header_hash(0, b"", b"\x02" * 32).hex() == FABRIC_HASH_0_NO_PREVIOUS
    block = parse_block(_block(2, [], []))
    assert block.previous_hash == b"" and len(block.hash) == 32


def test_a_valid_transactions_invocation_arguments_are_read() -> None:
    """Issue 30, defect 4: the (tenantId, requestId) the chaincode keyed the command by are its
    invocation's first arguments after the function; an invalid transaction's are never decoded,
    and arguments that cannot be decoded leave the events published."""
    call = _invocation(b"IdentityContract:CreateUser", b"acme", b"r-1", b"u-1")
    block = parse_block(
        _block(
            9,
            [
                _endorser_tx("t1", "UserCreated", call),
                _endorser_tx("t2", "UserCreated", call),
                _endorser_tx("t3", "UserCreated", b"\xff\xff"),
            ],
            [transaction_pb2.VALID, transaction_pb2.MVCC_READ_CONFLICT, transaction_pb2.VALID],
        )
    )
    assert [(t.tx_id, t.args, len(t.events), t.error) for t in block.transactions] == [
        ("t1", (b"IdentityContract:CreateUser", b"acme", b"r-1", b"u-1"), 1, None),
        ("t2", (), 0, None),
        ("t3", (), 1, None),
    ]
