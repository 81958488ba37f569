"""Fixtures shared by the unit tests of the submitter."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.gateway import gateway_pb2_grpc

from fabric_gateway import Gateway, Identity
from fabric_gateway.client import Timeouts
from fabric_gateway.identity import ecdsa_signer
from tests.unit.fake_gateway import FakeGateway


@pytest.fixture
async def env() -> AsyncIterator[tuple[FakeGateway, Gateway]]:
    key = ec.generate_private_key(ec.SECP256R1())
    servicer = FakeGateway(key.public_key())
    server = grpc.aio.server()
    gateway_pb2_grpc.add_GatewayServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield servicer, Gateway(channel, Identity("Org1MSP", b"cert"), ecdsa_signer(key), Timeouts(endorse=2))
    await server.stop(None)
