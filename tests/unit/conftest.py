"""Fixtures shared by the unit tests of the submitter."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from fabric_gateway import Gateway, Identity
from fabric_gateway.client import Timeouts
from fabric_gateway.identity import ecdsa_signer
from tests.unit.fake_gateway import FakeGateway, serve


@pytest.fixture
async def env() -> AsyncIterator[tuple[FakeGateway, Gateway]]:
    """The fake Gateway and a real client of it."""
    async with serve() as (fake, port, key), grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield fake, Gateway(channel, Identity("Org1MSP", b"cert"), ecdsa_signer(key), Timeouts(endorse=2))
