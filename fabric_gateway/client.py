"""The Gateway's steps as separate async calls, so a caller can keep many transactions in flight.

    gw = Gateway(channel, identity, signer)          # channel: a grpc.aio.Channel (injected)
    endorsed = await gw.endorse("gxchannel", "gxtv3", "AdminContract:BootstrapSystem", ["req-1"])
    await gw.submit(endorsed)                         # to the orderer, through the gateway
    status = await gw.commit_status(endorsed)         # waits for the commit; Status(code, block)

Each step has its own timeout. Errors: EvaluateError, EndorseError, SubmitError,
CommitStatusError (gRPC failures, with the peers' ErrorDetails); CommitError when the transaction
was committed invalid (only from :meth:`Gateway.submit_and_wait` and :meth:`Status.raise_for_status`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import events_pb2_grpc, proposal_pb2, proposal_response_pb2, transaction_pb2
from google.protobuf import timestamp_pb2
from google.rpc import status_pb2

from fabric_gateway.blocks import Block, ChaincodeEvent, FilteredBlock, parse_block, parse_filtered_block
from fabric_gateway.errors import (
    CommitError,
    CommitStatusError,
    EndorseError,
    ErrorDetail,
    EvaluateError,
    GatewayError,
    SubmitError,
)
from fabric_gateway.identity import Identity, Signer
from fabric_gateway.proposal import NONCE_LENGTH, Proposal, new_proposal

MAX_BLOCK = 2**64 - 1  # "no stop": the Deliver service waits for blocks that do not exist yet


@dataclass(frozen=True)
class Timeouts:
    evaluate: float = 5.0
    endorse: float = 15.0
    submit: float = 5.0
    commit_status: float = 60.0


@dataclass(frozen=True)
class Endorsed:
    """An endorsed transaction, ready to submit: its id, the signed envelope and the chaincode's result."""

    tx_id: str
    channel: str
    envelope: common_pb2.Envelope
    result: bytes


@dataclass(frozen=True)
class Status:
    tx_id: str
    code: str  # TxValidationCode name, "VALID" if it took effect
    block: int

    @property
    def successful(self) -> bool:
        return self.code == "VALID"

    def raise_for_status(self) -> None:
        if not self.successful:
            raise CommitError(self.tx_id, self.code, self.block)


def error_details(err: grpc.aio.AioRpcError) -> tuple[ErrorDetail, ...]:
    """The gateway.ErrorDetail entries carried in a gRPC error's status details, if any."""
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            out = []
            for any_msg in status.details:
                d = gateway_pb2.ErrorDetail()
                if any_msg.Unpack(d):
                    out.append(ErrorDetail(d.address, d.msp_id, d.message))
            return tuple(out)
    return ()


def chaincode_result(envelope: common_pb2.Envelope) -> bytes:
    """The chaincode's response payload inside an endorsed transaction envelope."""
    payload = common_pb2.Payload.FromString(envelope.payload)
    tx = transaction_pb2.Transaction.FromString(payload.data)
    action = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
    prp = proposal_response_pb2.ProposalResponsePayload.FromString(action.action.proposal_response_payload)
    return proposal_pb2.ChaincodeAction.FromString(prp.extension).response.payload


@dataclass
class Gateway:
    channel: grpc.aio.Channel
    identity: Identity
    signer: Signer
    timeouts: Timeouts = field(default_factory=Timeouts)
    # SHA-256 of the client TLS certificate (identity.tls_cert_hash) with mutual TLS: a peer that
    # requires client certificates refuses a Deliver request without it (BAD_REQUEST).
    tls_cert_hash: bytes = b""

    def __post_init__(self) -> None:
        self.stub = gateway_pb2_grpc.GatewayStub(self.channel)

    async def close(self) -> None:
        """Close the channel (this client cannot be used after)."""
        await self.channel.close()

    def _signed(self, p: Proposal) -> proposal_pb2.SignedProposal:
        return proposal_pb2.SignedProposal(proposal_bytes=p.proposal_bytes, signature=self.signer(p.proposal_bytes))

    def proposal(
        self,
        channel: str,
        chaincode: str,
        function: str,
        args: Sequence[str | bytes],
        transient: Mapping[str, bytes] | None = None,
    ) -> Proposal:
        return new_proposal(
            self.identity, channel, chaincode, function, args, transient, tls_cert_hash=self.tls_cert_hash
        )

    async def evaluate(
        self,
        channel: str,
        chaincode: str,
        function: str,
        args: Sequence[str | bytes] = (),
        transient: Mapping[str, bytes] | None = None,
    ) -> bytes:
        """Run a query on a peer (not submitted); returns the chaincode's response payload."""
        p = self.proposal(channel, chaincode, function, args, transient)
        req = gateway_pb2.EvaluateRequest(
            transaction_id=p.tx_id, channel_id=channel, proposed_transaction=self._signed(p)
        )
        try:
            resp = await self.stub.Evaluate(req, timeout=self.timeouts.evaluate)
        except grpc.aio.AioRpcError as e:
            raise EvaluateError(e.details() or "evaluate failed", p.tx_id, e.code(), error_details(e)) from e
        return bytes(resp.result.payload)

    async def chain_height(self, channel: str) -> int:
        """The channel's height on the peer (its last block's number + 1), through qscc GetChainInfo."""
        from fabric_protos.common import ledger_pb2

        raw = await self.evaluate(channel, "qscc", "GetChainInfo", [channel])
        return ledger_pb2.BlockchainInfo.FromString(raw).height

    async def endorse(
        self,
        channel: str,
        chaincode: str,
        function: str,
        args: Sequence[str | bytes] = (),
        transient: Mapping[str, bytes] | None = None,
        proposal: Proposal | None = None,
    ) -> Endorsed:
        """Collect endorsements; returns the signed transaction ready to submit. EndorseError on failure.

        Pass ``proposal`` to endorse the same transaction id again (a retry after a timeout).
        """
        p = proposal or self.proposal(channel, chaincode, function, args, transient)
        req = gateway_pb2.EndorseRequest(
            transaction_id=p.tx_id, channel_id=channel, proposed_transaction=self._signed(p)
        )
        try:
            resp = await self.stub.Endorse(req, timeout=self.timeouts.endorse)
        except grpc.aio.AioRpcError as e:
            raise EndorseError(e.details() or "endorse failed", p.tx_id, e.code(), error_details(e)) from e
        env = resp.prepared_transaction
        signed = common_pb2.Envelope(payload=env.payload, signature=self.signer(env.payload))
        return Endorsed(p.tx_id, channel, signed, chaincode_result(signed))

    async def submit(self, tx: Endorsed) -> None:
        """Send the endorsed transaction to the orderer. SubmitError on failure."""
        req = gateway_pb2.SubmitRequest(
            transaction_id=tx.tx_id, channel_id=tx.channel, prepared_transaction=tx.envelope
        )
        try:
            await self.stub.Submit(req, timeout=self.timeouts.submit)
        except grpc.aio.AioRpcError as e:
            raise SubmitError(e.details() or "submit failed", tx.tx_id, e.code(), error_details(e)) from e

    async def commit_status(
        self, tx: Endorsed | str, channel: str | None = None, timeout: float | None = None
    ) -> Status:
        """Wait for the transaction's commit; its validation code and block. CommitStatusError on failure
        (DEADLINE_EXCEEDED after ``timeout``, default ``timeouts.commit_status``, when it has not committed)."""
        tx_id = tx if isinstance(tx, str) else tx.tx_id
        channel_id = channel or (tx.channel if isinstance(tx, Endorsed) else "")
        request = gateway_pb2.CommitStatusRequest(
            transaction_id=tx_id, channel_id=channel_id, identity=self.identity.creator()
        ).SerializeToString()
        req = gateway_pb2.SignedCommitStatusRequest(request=request, signature=self.signer(request))
        try:
            resp = await self.stub.CommitStatus(req, timeout=timeout or self.timeouts.commit_status)
        except grpc.aio.AioRpcError as e:
            raise CommitStatusError(e.details() or "commit status failed", tx_id, e.code(), error_details(e)) from e
        return Status(tx_id, transaction_pb2.TxValidationCode.Name(resp.result), resp.block_number)

    async def submit_and_wait(
        self,
        channel: str,
        chaincode: str,
        function: str,
        args: Sequence[str | bytes] = (),
        transient: Mapping[str, bytes] | None = None,
    ) -> tuple[bytes, Status]:
        """Endorse, submit and wait for a VALID commit; (result, status). Any of the typed errors."""
        tx = await self.endorse(channel, chaincode, function, args, transient)
        await self.submit(tx)
        status = await self.commit_status(tx)
        status.raise_for_status()
        return tx.result, status

    async def chaincode_events(
        self, channel: str, chaincode: str, start_block: int | None = None, after_tx_id: str = ""
    ) -> AsyncIterator[ChaincodeEvent]:
        """Chaincode events from ``start_block`` (default: the next commit), resumable after a tx id."""
        if start_block is None:
            pos = ab_pb2.SeekPosition(next_commit=ab_pb2.SeekNextCommit())
        else:
            pos = ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=start_block))
        request = gateway_pb2.ChaincodeEventsRequest(
            channel_id=channel,
            chaincode_id=chaincode,
            identity=self.identity.creator(),
            start_position=pos,
            after_transaction_id=after_tx_id,
        ).SerializeToString()
        req = gateway_pb2.SignedChaincodeEventsRequest(request=request, signature=self.signer(request))
        try:
            async for resp in self.stub.ChaincodeEvents(req):
                for ev in resp.events:
                    yield ChaincodeEvent(resp.block_number, ev.tx_id, ev.chaincode_id, ev.event_name, bytes(ev.payload))
        except grpc.aio.AioRpcError as e:
            raise GatewayError(e.details() or "chaincode events failed", after_tx_id, e.code(), error_details(e)) from e

    def seek_envelope(self, channel: str, start_block: int | None) -> common_pb2.Envelope:
        """A signed DELIVER_SEEK_INFO request for every block from ``start_block`` on (None: from
        the channel's newest block, the first answer)."""
        ts = timestamp_pb2.Timestamp()
        ts.GetCurrentTime()
        ch = common_pb2.ChannelHeader(
            type=common_pb2.HeaderType.DELIVER_SEEK_INFO,
            channel_id=channel,
            timestamp=ts,
            epoch=0,
            tls_cert_hash=self.tls_cert_hash,
        )
        sh = common_pb2.SignatureHeader(creator=self.identity.creator(), nonce=os.urandom(NONCE_LENGTH))
        start = (
            ab_pb2.SeekPosition(newest=ab_pb2.SeekNewest())
            if start_block is None
            else ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=start_block))
        )
        seek = ab_pb2.SeekInfo(
            start=start,
            stop=ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=MAX_BLOCK)),
            behavior=ab_pb2.SeekInfo.SeekBehavior.BLOCK_UNTIL_READY,
        )
        payload = common_pb2.Payload(
            header=common_pb2.Header(channel_header=ch.SerializeToString(), signature_header=sh.SerializeToString()),
            data=seek.SerializeToString(),
        ).SerializeToString()
        return common_pb2.Envelope(payload=payload, signature=self.signer(payload))

    async def _deliver(
        self, method: str, kind: str, channel: str, start_block: int | None
    ) -> AsyncGenerator[Any, None]:
        """The ``kind`` field of each answer of the Deliver service's ``method`` (a stream from
        ``start_block``); GatewayError when the peer ends it with a status or the stream fails."""
        call = getattr(events_pb2_grpc.DeliverStub(self.channel), method)(
            iter([self.seek_envelope(channel, start_block)])
        )
        try:
            async for resp in call:
                got = resp.WhichOneof("Type")
                if got == kind:
                    yield getattr(resp, kind)
                elif got == "status":
                    raise GatewayError(f"deliver ended with status {common_pb2.Status.Name(resp.status)}", "")
        except grpc.aio.AioRpcError as e:
            raise GatewayError(e.details() or "deliver failed", "", e.code(), error_details(e)) from e
        finally:
            call.cancel()

    async def blocks(self, channel: str, start_block: int = 0) -> AsyncGenerator[Block, None]:
        """Full blocks from ``start_block`` on, parsed, waiting for new ones (the peer's Deliver service).

        Resume after a break by calling again with the next block number. GatewayError if the peer
        refuses (e.g. FORBIDDEN) or the stream fails; BlockParseError on a malformed block.
        """
        # aclosing: the stream is cancelled as soon as the caller stops reading, not at garbage collection.
        async with aclosing(self._deliver("Deliver", "block", channel, start_block)) as stream:
            async for block in stream:
                yield parse_block(block)

    async def filtered_blocks(
        self, channel: str, start_block: int | None = None
    ) -> AsyncGenerator[FilteredBlock, None]:
        """Filtered blocks (each transaction's id and validation code, no payloads) from
        ``start_block`` on, or from the newest block when None (the peer's DeliverFiltered).

        Lighter than :meth:`blocks` for the peer and for us: what a client waiting for its
        transactions' commits needs. GatewayError if the peer refuses or the stream fails.
        """
        async with aclosing(self._deliver("DeliverFiltered", "filtered_block", channel, start_block)) as stream:
            async for block in stream:
                yield parse_filtered_block(block)
