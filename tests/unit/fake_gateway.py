"""An in-process fake of the Fabric Gateway gRPC service, for unit tests and fault injection only.

It checks what a real gateway checks of a client (signatures over proposals, envelopes and
commit-status requests) and answers per chaincode function as scripted: a result, a chaincode
rejection with ErrorDetails, a delay, an MVCC conflict at commit. Its DeliverFiltered streams one
filtered block per submitted transaction, and can refuse or drop streams. It is never the proof that the
client works against Fabric; that is the integration tests' job.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

import grpc
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import (
    chaincode_event_pb2,
    chaincode_pb2,
    events_pb2,
    events_pb2_grpc,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)
from google.protobuf import any_pb2
from google.rpc import status_pb2


@dataclass
class Script:
    result: bytes = b""
    reject: str | None = None  # chaincode rejection message
    delay: float = 0.0  # seconds before answering Endorse
    validation: str = "VALID"  # commit status
    fail_times: int = 0  # answer Endorse with fail_code this many times first
    fail_code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE
    status_fail_times: int = 0  # answer CommitStatus with status_fail_code this many times first
    status_fail_code: grpc.StatusCode = grpc.StatusCode.DEADLINE_EXCEEDED
    # Answer Submit with submit_fail_code this many times, although the transaction reached the
    # orderer and commits (a lost answer: a timeout or a dropped connection).
    submit_fail_times: int = 0
    submit_fail_code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE
    # The transaction commits (CommitStatus says so) but no filtered block names it.
    unseen: bool = False
    # Submit answers OK this many times but the transaction goes nowhere (an orderer that died
    # with it in its batch): no block names it until it is sent again.
    lost_times: int = 0
    fail_message: str = "injected failure"
    fail_details: tuple[str, ...] = ()  # ErrorDetail messages of the injected Endorse failure


@dataclass
class FakeGateway(gateway_pb2_grpc.GatewayServicer, events_pb2_grpc.DeliverServicer):
    public_key: ec.EllipticCurvePublicKey
    scripts: dict[str, Script] = field(default_factory=dict)
    block: int = 7
    calls: list[tuple[str, list[bytes]]] = field(default_factory=list)
    tx_functions: dict[str, str] = field(default_factory=dict)
    events: list[tuple[int, chaincode_event_pb2.ChaincodeEvent]] = field(default_factory=list)
    down: bool = False  # every Endorse answers UNAVAILABLE, as with the peer stopped
    status_calls: list[str] = field(default_factory=list)  # transaction ids asked for their commit status
    submitted: list[str] = field(default_factory=list)  # transaction ids received by Submit
    # DeliverFiltered: Submit cuts one block per transaction, numbered from ``height``.
    height: int = 20
    filtered: dict[int, events_pb2.FilteredBlock] = field(default_factory=dict)
    deliver_fail_times: int = 0  # refuse this many DeliverFiltered streams (UNAVAILABLE) first
    deliver_calls: int = 0
    _epoch: int = 0  # drop_streams() ends every open stream
    _cut: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        if self._cut is None:
            self._cut = asyncio.Condition()
        return self._cut

    async def drop_streams(self) -> None:
        """End every open DeliverFiltered stream with UNAVAILABLE (a peer restart, a lost link)."""
        async with self._condition():
            self._epoch += 1
            self._condition().notify_all()

    async def _cut_block(self, tx_id: str, code: str) -> None:
        async with self._condition():
            tx = events_pb2.FilteredTransaction(
                txid=tx_id, tx_validation_code=transaction_pb2.TxValidationCode.Value(code)
            )
            self.filtered[self.height] = events_pb2.FilteredBlock(
                channel_id="gxchannel", number=self.height, filtered_transactions=[tx]
            )
            self.height += 1
            self._condition().notify_all()

    def _moved(self, epoch: int, n: int) -> bool:
        """Whether a stream at block ``n`` of ``epoch`` has something to do: a block to send, or a drop."""
        return self._epoch != epoch or n < self.height

    async def DeliverFiltered(self, request_iterator, context):
        env = await anext(aiter(request_iterator))
        self._verify(env.payload, env.signature)
        self.deliver_calls += 1
        if self.deliver_fail_times > 0:
            self.deliver_fail_times -= 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, "injected deliver failure")
        seek = ab_pb2.SeekInfo.FromString(common_pb2.Payload.FromString(env.payload).data)
        n = self.height - 1 if seek.start.HasField("newest") else seek.start.specified.number
        epoch = self._epoch
        while True:
            async with self._condition():
                await self._condition().wait_for(partial(self._moved, epoch, n))
                if self._epoch != epoch:
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "stream dropped")
                block = self.filtered.get(n, events_pb2.FilteredBlock(channel_id="gxchannel", number=n))
            yield events_pb2.DeliverResponse(filtered_block=block)
            n += 1

    def _verify(self, message: bytes, signature: bytes) -> None:
        self.public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))

    @staticmethod
    async def _abort(
        context: grpc.aio.ServicerContext, code: grpc.StatusCode, message: str, details: list[gateway_pb2.ErrorDetail]
    ) -> None:
        st = status_pb2.Status(code=code.value[0], message=message)
        for d in details:
            a = any_pb2.Any()
            a.Pack(d)
            st.details.append(a)
        context.set_trailing_metadata((("grpc-status-details-bin", st.SerializeToString()),))
        await context.abort(code, message)

    def _function(self, signed: proposal_pb2.SignedProposal) -> tuple[str, list[bytes], str]:
        self._verify(signed.proposal_bytes, signed.signature)
        prop = proposal_pb2.Proposal.FromString(signed.proposal_bytes)
        header = common_pb2.Header.FromString(prop.header)
        ch = common_pb2.ChannelHeader.FromString(header.channel_header)
        payload = proposal_pb2.ChaincodeProposalPayload.FromString(prop.payload)
        spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(payload.input)
        args = list(spec.chaincode_spec.input.args)
        return args[0].decode(), args[1:], ch.tx_id

    async def Endorse(self, request, context):
        fn, args, txid = self._function(request.proposed_transaction)
        assert txid == request.transaction_id
        self.calls.append((fn, args))
        if self.down:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses")
        script = self.scripts.get(fn, Script())
        if script.fail_times > 0:
            script.fail_times -= 1
            await self._abort(
                context,
                script.fail_code,
                script.fail_message,
                [
                    gateway_pb2.ErrorDetail(address="peer0:7051", msp_id="Org1MSP", message=m)
                    for m in script.fail_details
                ],
            )
        if script.delay:
            await asyncio.sleep(script.delay)
        if script.reject:
            await self._abort(
                context,
                grpc.StatusCode.ABORTED,
                "failed to endorse transaction, see attached details",
                [
                    gateway_pb2.ErrorDetail(
                        address="peer0:7051", msp_id="Org1MSP", message=f"chaincode response 500, {script.reject}"
                    )
                ],
            )
        self.tx_functions[txid] = fn
        action = proposal_pb2.ChaincodeAction(
            response=proposal_response_pb2.Response(status=200, payload=script.result)
        )
        prp = proposal_response_pb2.ProposalResponsePayload(extension=action.SerializeToString())
        cap = transaction_pb2.ChaincodeActionPayload(
            action=transaction_pb2.ChaincodeEndorsedAction(proposal_response_payload=prp.SerializeToString())
        )
        tx = transaction_pb2.Transaction(actions=[transaction_pb2.TransactionAction(payload=cap.SerializeToString())])
        payload = common_pb2.Payload(data=tx.SerializeToString())
        return gateway_pb2.EndorseResponse(
            prepared_transaction=common_pb2.Envelope(payload=payload.SerializeToString())
        )

    async def Submit(self, request, context):
        self._verify(request.prepared_transaction.payload, request.prepared_transaction.signature)
        self.submitted.append(request.transaction_id)
        script = self.scripts.get(self.tx_functions.get(request.transaction_id, ""), Script())
        if script.lost_times > 0:
            script.lost_times -= 1
            return gateway_pb2.SubmitResponse()
        if not script.unseen:
            await self._cut_block(request.transaction_id, script.validation)
        if script.submit_fail_times > 0:
            script.submit_fail_times -= 1
            await context.abort(script.submit_fail_code, "injected submit failure (the transaction was sent)")
        return gateway_pb2.SubmitResponse()

    async def CommitStatus(self, request, context):
        self._verify(request.request, request.signature)
        req = gateway_pb2.CommitStatusRequest.FromString(request.request)
        self.status_calls.append(req.transaction_id)
        script = self.scripts.get(self.tx_functions.get(req.transaction_id, ""), Script())
        if script.status_fail_times > 0:
            script.status_fail_times -= 1
            await context.abort(script.status_fail_code, "injected commit status failure")
        return gateway_pb2.CommitStatusResponse(
            result=transaction_pb2.TxValidationCode.Value(script.validation), block_number=self.block
        )

    async def Evaluate(self, request, context):
        fn, _args, _ = self._function(request.proposed_transaction)
        script = self.scripts.get(fn, Script())
        if script.reject:
            await self._abort(
                context,
                grpc.StatusCode.UNKNOWN,
                f"evaluate call to endorser returned error: chaincode response 500, {script.reject}",
                [],
            )
        return gateway_pb2.EvaluateResponse(result=proposal_response_pb2.Response(status=200, payload=script.result))

    async def ChaincodeEvents(self, request, context):
        self._verify(request.request, request.signature)
        req = gateway_pb2.ChaincodeEventsRequest.FromString(request.request)
        start = req.start_position.specified.number if req.start_position.HasField("specified") else 0
        skipping = bool(req.after_transaction_id)
        for block, ev in self.events:
            if block < start:
                continue
            if skipping:
                skipping = ev.tx_id != req.after_transaction_id
                continue
            yield gateway_pb2.ChaincodeEventsResponse(block_number=block, events=[ev])


@asynccontextmanager
async def serve() -> AsyncIterator[tuple[FakeGateway, int, ec.EllipticCurvePrivateKey]]:
    """A FakeGateway on a loopback port; yields it, the port and the client key it trusts."""
    key = ec.generate_private_key(ec.SECP256R1())
    fake = FakeGateway(key.public_key())
    server = grpc.aio.server()
    gateway_pb2_grpc.add_GatewayServicer_to_server(fake, server)
    events_pb2_grpc.add_DeliverServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield fake, port, key
    finally:
        await server.stop(None)
