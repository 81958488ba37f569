"""fabric_gateway against an in-process fake Gateway: signing, proposals, steps, errors, classify."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import AsyncIterator

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2_grpc
from fabric_protos.peer import chaincode_event_pb2, chaincode_pb2, proposal_pb2

from fabric_gateway import (
    CommitError,
    Disposition,
    EndorseError,
    EvaluateError,
    Gateway,
    Identity,
    SubmitError,
    Verdict,
    classify,
    verdict,
)
from fabric_gateway.client import Timeouts
from fabric_gateway.errors import CommitStatusError, ErrorDetail
from fabric_gateway.identity import P256_N, ecdsa_signer
from fabric_gateway.proposal import NONCE_LENGTH, new_proposal
from tests.unit.fake_gateway import FakeGateway, Script


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def identity(key: ec.EllipticCurvePrivateKey) -> Identity:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "User1@org1.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return Identity("Org1MSP", cert.public_bytes(serialization.Encoding.PEM))


@pytest.fixture
async def fake(key: ec.EllipticCurvePrivateKey) -> AsyncIterator[tuple[FakeGateway, str]]:
    servicer = FakeGateway(key.public_key())
    server = grpc.aio.server()
    gateway_pb2_grpc.add_GatewayServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield servicer, f"127.0.0.1:{port}"
    await server.stop(None)


@pytest.fixture
async def gateway(
    fake: tuple[FakeGateway, str], identity: Identity, key: ec.EllipticCurvePrivateKey
) -> AsyncIterator[Gateway]:
    async with grpc.aio.insecure_channel(fake[1]) as channel:
        yield Gateway(channel, identity, ecdsa_signer(key), Timeouts(endorse=0.5, commit_status=2))


def test_signatures_are_low_s_and_verify(key: ec.EllipticCurvePrivateKey) -> None:
    sign = ecdsa_signer(key)
    for i in range(200):
        msg = f"message {i}".encode()
        sig = sign(msg)
        key.public_key().verify(sig, msg, ec.ECDSA(hashes.SHA256()))
        assert decode_dss_signature(sig)[1] <= P256_N // 2


def test_proposal_txid_is_the_hash_of_nonce_and_creator(identity: Identity) -> None:
    nonce = bytes(range(NONCE_LENGTH))
    p = new_proposal(identity, "gxchannel", "gxtv3", "AdminContract:BootstrapSystem", ["req-1"], nonce=nonce)
    assert p.tx_id == hashlib.sha256(nonce + identity.creator()).hexdigest()
    prop = proposal_pb2.Proposal.FromString(p.proposal_bytes)
    header = common_pb2.Header.FromString(prop.header)
    ch = common_pb2.ChannelHeader.FromString(header.channel_header)
    sh = common_pb2.SignatureHeader.FromString(header.signature_header)
    assert (ch.channel_id, ch.tx_id, ch.type) == ("gxchannel", p.tx_id, common_pb2.HeaderType.ENDORSER_TRANSACTION)
    assert (sh.creator, sh.nonce) == (identity.creator(), nonce)
    ext = proposal_pb2.ChaincodeHeaderExtension.FromString(ch.extension)
    assert ext.chaincode_id.name == "gxtv3"
    spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(
        proposal_pb2.ChaincodeProposalPayload.FromString(prop.payload).input
    )
    assert list(spec.chaincode_spec.input.args) == [b"AdminContract:BootstrapSystem", b"req-1"]


def test_fresh_proposals_get_fresh_ids(identity: Identity) -> None:
    ids = {new_proposal(identity, "c", "cc", "f", []).tx_id for _ in range(50)}
    assert len(ids) == 50


async def test_submit_and_wait_returns_the_result_and_the_block(
    fake: tuple[FakeGateway, str], gateway: Gateway
) -> None:
    servicer, _ = fake
    servicer.scripts["TokenomicsContract:TransferTokens"] = Script(result=b'{"ok":true}')
    result, status = await gateway.submit_and_wait(
        "gxchannel", "gxtv3", "TokenomicsContract:TransferTokens", ["req-1", "a", "b", "25", ""]
    )
    assert result == b'{"ok":true}'
    assert (status.code, status.block, status.successful) == ("VALID", 7, True)
    assert servicer.calls == [("TokenomicsContract:TransferTokens", [b"req-1", b"a", b"b", b"25", b""])]


async def test_steps_can_be_taken_separately_with_many_in_flight(
    fake: tuple[FakeGateway, str], gateway: Gateway
) -> None:
    import asyncio

    endorsed = await asyncio.gather(*(gateway.endorse("gxchannel", "gxtv3", "F", [str(i)]) for i in range(20)))
    await asyncio.gather(*(gateway.submit(tx) for tx in endorsed))
    statuses = await asyncio.gather(*(gateway.commit_status(tx) for tx in endorsed))
    assert {s.tx_id for s in statuses} == {tx.tx_id for tx in endorsed}
    assert all(s.successful for s in statuses)


async def test_a_chaincode_rejection_is_an_endorse_error_with_details_and_permanent(
    fake: tuple[FakeGateway, str], gateway: Gateway
) -> None:
    fake[0].scripts["TokenomicsContract:DistributeGenesis"] = Script(
        reject="failed to mint coins for SYSTEM_USER_GENESIS_POOL"
    )
    with pytest.raises(EndorseError) as e:
        await gateway.endorse("gxchannel", "gxtv3", "TokenomicsContract:DistributeGenesis", ["r"])
    err = e.value
    assert err.code == grpc.StatusCode.ABORTED
    assert err.details == (
        ErrorDetail(
            "peer0:7051", "Org1MSP", "chaincode response 500, failed to mint coins for SYSTEM_USER_GENESIS_POOL"
        ),
    )
    assert err.tx_id and err.tx_id in str(err)
    assert classify(err) is Disposition.RETRYABLE  # thrown, not recorded (issue 30, defect 3)


async def test_an_mvcc_conflict_is_a_commit_error_and_retryable(
    fake: tuple[FakeGateway, str], gateway: Gateway
) -> None:
    fake[0].scripts["F"] = Script(validation="MVCC_READ_CONFLICT")
    with pytest.raises(CommitError) as e:
        await gateway.submit_and_wait("gxchannel", "gxtv3", "F", [])
    assert (e.value.validation_code, e.value.block) == ("MVCC_READ_CONFLICT", 7)
    assert classify(e.value) is Disposition.RETRYABLE


async def test_a_slow_endorsement_times_out_as_a_retryable_error(
    fake: tuple[FakeGateway, str], gateway: Gateway
) -> None:
    fake[0].scripts["Slow"] = Script(delay=2)
    with pytest.raises(EndorseError) as e:
        await gateway.endorse("gxchannel", "gxtv3", "Slow", [])
    assert e.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert classify(e.value) is Disposition.RETRYABLE


async def test_an_unreachable_gateway_is_unavailable_and_retryable(
    identity: Identity, key: ec.EllipticCurvePrivateKey
) -> None:
    async with grpc.aio.insecure_channel("127.0.0.1:1") as channel:
        gw = Gateway(channel, identity, ecdsa_signer(key), Timeouts(endorse=2))
        with pytest.raises(EndorseError) as e:
            await gw.endorse("gxchannel", "gxtv3", "F", [])
    assert e.value.code == grpc.StatusCode.UNAVAILABLE
    assert classify(e.value) is Disposition.RETRYABLE


async def test_evaluate_returns_the_payload_and_maps_errors(fake: tuple[FakeGateway, str], gateway: Gateway) -> None:
    fake[0].scripts["Q"] = Script(result=b"42")
    assert await gateway.evaluate("gxchannel", "gxtv3", "Q", ["x"]) == b"42"
    fake[0].scripts["Bad"] = Script(reject="no such user")
    with pytest.raises(EvaluateError) as e:
        await gateway.evaluate("gxchannel", "gxtv3", "Bad", [])
    assert e.value.code == grpc.StatusCode.UNKNOWN
    assert classify(e.value) is Disposition.RETRYABLE


async def test_chaincode_events_resume_after_a_transaction(fake: tuple[FakeGateway, str], gateway: Gateway) -> None:
    fake[0].events = [
        (
            b,
            chaincode_event_pb2.ChaincodeEvent(
                chaincode_id="gxtv3", tx_id=f"tx{b}", event_name="E", payload=f"{b}".encode()
            ),
        )
        for b in (3, 4, 5)
    ]
    got = [ev async for ev in gateway.chaincode_events("gxchannel", "gxtv3", start_block=3, after_tx_id="tx3")]
    assert [(e.block, e.tx_id, e.payload) for e in got] == [(4, "tx4", b"4"), (5, "tx5", b"5")]


@pytest.mark.parametrize(
    ("err", "want"),
    [
        (EndorseError("x", "t", grpc.StatusCode.UNAVAILABLE), Disposition.RETRYABLE),
        (SubmitError("x", "t", grpc.StatusCode.DEADLINE_EXCEEDED), Disposition.RETRYABLE),
        (EndorseError("too many requests", "t", grpc.StatusCode.RESOURCE_EXHAUSTED), Disposition.RETRYABLE),
        (CommitError("t", "PHANTOM_READ_CONFLICT", 3), Disposition.RETRYABLE),
        (CommitError("t", "ENDORSEMENT_POLICY_FAILURE", 3), Disposition.PERMANENT),
        (CommitStatusError("x", "t", grpc.StatusCode.CANCELLED), Disposition.RETRYABLE),
        (
            EndorseError("x", "t", grpc.StatusCode.ABORTED, (ErrorDetail("p", "m", "chaincode response 500, paused"),)),
            Disposition.RETRYABLE,  # thrown, recorded nowhere (issue 30, defect 3)
        ),
        (
            EndorseError(
                "x",
                "t",
                grpc.StatusCode.ABORTED,
                (ErrorDetail("p", "m", "chaincode response 500, IDEMPOTENCY_CONFLICT: request r was used"),),
            ),
            Disposition.PERMANENT,
        ),
        (EndorseError("x", "t", grpc.StatusCode.INVALID_ARGUMENT), Disposition.RETRYABLE),
        (ValueError("payload"), Disposition.PERMANENT),
    ],
)
def test_classify(err: BaseException, want: Disposition) -> None:
    assert classify(err) is want


# What Fabric 3.1.5's gateway answers when the way to the ledger fails, not the command: each is
# retried and counted as an outage (issue 20, item 7); before, each FAILED the command at once.
PEER_DOWN = ErrorDetail(
    "127.0.0.1:27051",
    "Org1MSP",
    "rpc error: code = Unavailable desc = connection error: "
    'desc = "transport: Error while dialing: dial tcp 127.0.0.1:27051: connect: connection refused"',
)
CHAINCODE_DOWN = ErrorDetail(
    "127.0.0.1:27051",
    "Org1MSP",
    "error in simulation: failed to execute transaction "
    "f00: could not launch chaincode gxtv3_1:abc: connection to chaincode failed",
)


@pytest.mark.parametrize(
    ("err", "want"),
    [
        (
            EndorseError(
                "failed to endorse transaction, see attached details for more info",
                "t",
                grpc.StatusCode.ABORTED,
                (PEER_DOWN,),
            ),
            Verdict.INFRA,
        ),
        (
            EndorseError(
                "failed to endorse transaction, see attached details for more info",
                "t",
                grpc.StatusCode.ABORTED,
                (CHAINCODE_DOWN,),
            ),
            Verdict.INFRA,
        ),
        (
            EndorseError("failed to collect enough transaction endorsements", "t", grpc.StatusCode.ABORTED),
            Verdict.INFRA,
        ),
        (EndorseError("the client certificate has expired", "t", grpc.StatusCode.PERMISSION_DENIED), Verdict.INFRA),
        (
            EndorseError(
                "make sure the chaincode gxtv3 has been successfully defined on channel gxchannel",
                "t",
                grpc.StatusCode.NOT_FOUND,
            ),
            Verdict.INFRA,
        ),
        (SubmitError("context canceled", "t", grpc.StatusCode.CANCELLED), Verdict.INFRA),
        (
            EndorseError("no endorsers found in the gateway's organization", "t", grpc.StatusCode.FAILED_PRECONDITION),
            Verdict.INFRA,
        ),
        (CommitStatusError("x", "t", grpc.StatusCode.DEADLINE_EXCEEDED), Verdict.INFRA),
        (EndorseError("x", "t", grpc.StatusCode.INVALID_ARGUMENT), Verdict.REQUEST),
        (CommitError("t", "MVCC_READ_CONFLICT", 3), Verdict.CONFLICT),
        (CommitError("t", "ENDORSEMENT_POLICY_FAILURE", 3), Verdict.INVALID),
        # Issue 30, defect 3: an error the chaincode throws is recorded nowhere (a recorded rejection
        # is a VALID transaction's answer, never an error): the deployment's fault, retried.
        (
            EndorseError(
                "failed to endorse transaction",
                "t",
                grpc.StatusCode.ABORTED,
                (
                    ErrorDetail(
                        "p", "m", "chaincode response 500, FORBIDDEN: Org1MSP identity x may not submit commands"
                    ),
                ),
            ),
            Verdict.REFUSED,
        ),
        (
            EndorseError(
                "failed to endorse transaction",
                "t",
                grpc.StatusCode.ABORTED,
                (ErrorDetail("p", "m", "chaincode response 500, TypeError: x is undefined"),),
            ),
            Verdict.REFUSED,
        ),
        (
            EvaluateError(
                "evaluate call to endorser returned error: chaincode response 500, no such user",
                "t",
                grpc.StatusCode.UNKNOWN,
            ),
            Verdict.REFUSED,
        ),
        # The requestId recorded for another command: the ledger's record answers, for ever.
        (
            EndorseError(
                "failed to endorse transaction",
                "t",
                grpc.StatusCode.ABORTED,
                (
                    ErrorDetail(
                        "p", "m", "chaincode response 500, IDEMPOTENCY_CONFLICT: request r of tenant t was already used"
                    ),
                ),
            ),
            Verdict.REJECTED,
        ),
    ],
)
def test_only_a_ledger_record_and_an_invalid_commit_are_final(err: BaseException, want: Verdict) -> None:
    assert verdict(err) is want
    assert want.final == (want in (Verdict.REJECTED, Verdict.INVALID))
    assert want.outage == (want is Verdict.INFRA)


def test_the_chaincode_message_is_taken_from_the_error_details() -> None:
    from fabric_gateway import EndorseError, ErrorDetail
    from fabric_gateway.classify import chaincode_message

    err = EndorseError(
        "failed to endorse transaction, see attached details for more info",
        "tx1",
        grpc.StatusCode.ABORTED,
        (ErrorDetail("127.0.0.1:27051", "Org1MSP", "chaincode response 500, already bootstrapped"),),
    )
    assert chaincode_message(err) == "chaincode response 500, already bootstrapped"
    assert chaincode_message(EndorseError("no peers", "tx2", grpc.StatusCode.UNAVAILABLE)) is None


def test_the_tls_certificate_hash_binds_proposals_and_deliver_requests(
    identity: Identity, key: ec.EllipticCurvePrivateKey
) -> None:
    from fabric_gateway.identity import tls_cert_hash

    der = x509.load_pem_x509_certificate(identity.certificate).public_bytes(serialization.Encoding.DER)
    want = hashlib.sha256(der).digest()
    assert tls_cert_hash(identity.certificate) == want
    p = new_proposal(identity, "c", "cc", "f", [], tls_cert_hash=want)
    header = common_pb2.Header.FromString(proposal_pb2.Proposal.FromString(p.proposal_bytes).header)
    assert common_pb2.ChannelHeader.FromString(header.channel_header).tls_cert_hash == want
    gw = Gateway(grpc.aio.insecure_channel("127.0.0.1:1"), identity, ecdsa_signer(key), tls_cert_hash=want)
    env = gw.seek_envelope("c", 0)
    seek_header = common_pb2.Payload.FromString(env.payload).header.channel_header
    assert common_pb2.ChannelHeader.FromString(seek_header).tls_cert_hash == want


def test_a_private_key_others_can_read_is_refused_naming_the_variable(
    tmp_path, key: ec.EllipticCurvePrivateKey, identity: Identity
) -> None:
    from fabric_gateway.identity import KeyFileError, key_mode_problem, read_private_key
    from gxcommon.fabric_settings import FabricSettings
    from gxerrors import GxError

    assert key_mode_problem(0o100600) is None and key_mode_problem(0o100400) is None
    assert "mode 0640" in (key_mode_problem(0o100640) or "")
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    k = tmp_path / "priv_sk"
    k.write_bytes(pem)
    k.chmod(0o644)
    cert = tmp_path / "cert.pem"
    cert.write_bytes(identity.certificate)
    f = FabricSettings(gateway="127.0.0.1:1", cert=cert, key=k)
    with pytest.raises(GxError, match=r"GX_FABRIC_KEY=.*priv_sk: mode 0644 lets group or others read it"):
        f.signer()
    k.chmod(0o600)
    assert f.signer()(b"m")
    with pytest.raises(KeyFileError, match="No such file"):
        read_private_key(tmp_path / "missing")
    with pytest.raises(GxError, match="GX_FABRIC_TLS_CERT and GX_FABRIC_TLS_KEY go together"):
        f.model_copy(update={"tls_cert": cert}).grpc_channel()
    shared = tmp_path / "client.key"
    shared.write_bytes(pem)
    shared.chmod(0o604)
    with pytest.raises(GxError, match=r"GX_FABRIC_TLS_KEY=.*client\.key: mode 0604"):
        f.model_copy(update={"tls_cert": cert, "tls_key": shared}).grpc_channel()
    # No TLS root: no silent plaintext (issue 33, finding 9), unless a test peer is declared so.
    with pytest.raises(GxError, match="GX_FABRIC_TLS_ROOT is not set: the channel to the peer would be plaintext"):
        f.grpc_channel()
