"""Several gateway peers for one client: fail over to the next when the current one is unreachable.

    endpoints = Endpoints(["127.0.0.1:26150", "127.0.0.1:26160"])
    channels = ChannelPool(endpoints.names, open_channel_for)     # one grpc.aio channel per endpoint, lazily
    gw = FailoverGateway(endpoints, lambda i: Gateway(channels.get(i), identity, signer))

:class:`Endpoints` is the pure choice: the current endpoint, and what one failure of an endpoint
does. A failure counts only against the endpoint the call used, and moves on only if that endpoint
is still the current one: a window of calls in flight that all fail on the peer that died moves
the client once, to the next endpoint, never round the list and back onto the dead one. The client
stays on the endpoint that works (no return to the first).

:class:`FailoverGateway` is a :class:`~fabric_gateway.client.Gateway` whose calls go to the current
endpoint. What counts as "this endpoint" (:func:`endpoint_failure`) is UNAVAILABLE: the peer cannot
be reached or its connection broke. Then:

- a call that changes nothing and may be repeated (evaluate, endorse, commit status) is made again
  at once on the next endpoint, each endpoint tried once per call; so is an endorsement or an
  evaluation the gateway peer could find no peers for (:func:`plan_failure`): a peer just
  restarted answers that until gossip has told it of the other organisations' peers (seconds),
  while another gateway peer already knows them; only when every endpoint says so is it the
  network's;
- submit is not repeated (the transaction may have reached the orderer): the error is raised as
  before and the caller settles the transaction by its commit status, which the next call asks of
  the next endpoint;
- a block or event stream ends with the error; the caller opens it again (from the next block),
  now on the next endpoint.

Any other error (a rejection, a policy that cannot be met, a timeout) is the network's, not the
endpoint's: raised unchanged, the endpoint kept.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import Any, TypeVar

import grpc

from fabric_gateway.blocks import ChaincodeEvent
from fabric_gateway.client import Endorsed, Gateway, Status
from fabric_gateway.errors import GatewayError
from fabric_gateway.proposal import Proposal

T = TypeVar("T")


def parse_endpoints(value: str | Sequence[str] | None) -> list[str]:
    """``host1:port,host2:port`` (or a list) as a list, blanks dropped, order and first
    occurrence kept."""
    items = value.split(",") if isinstance(value, str) else list(value or ())
    out: list[str] = []
    for item in (i.strip() for i in items):
        if item and item not in out:
            out.append(item)
    return out


def plan_failure(err: BaseException) -> bool:
    """The gateway peer found no peers to satisfy the endorsement policy (or to evaluate): its own
    view of the network, which another gateway peer may not share (see the module's doc)."""
    if not isinstance(err, GatewayError):
        return False
    text = err.message.lower()
    return (err.code == grpc.StatusCode.FAILED_PRECONDITION and "no combination of peers" in text) or (
        err.code == grpc.StatusCode.UNAVAILABLE and text.startswith("no peers available")
    )


def endpoint_failure(err: BaseException) -> bool:
    """The failure is the endpoint's (unreachable, or its connection broke), not the network's.

    UNAVAILABLE from gRPC itself (connection refused, reset, closed: no answer from the peer).
    Not UNAVAILABLE from the gateway peer about the nodes behind it (the network's): it names
    them in ErrorDetails, or says "no orderers could successfully process transaction", "no peers
    available to evaluate chaincode", "no combination of peers can be derived...". (A Raft leader's
    death came back as the first and was taken for the gateway peer's until this rule.)"""
    if not (isinstance(err, GatewayError) and err.code == grpc.StatusCode.UNAVAILABLE):
        return False
    return not err.details and not err.message.lower().startswith("no ")


class Endpoints:
    """The endpoints in order of preference and the current one (pure; see the module's doc)."""

    def __init__(self, names: Sequence[str], on_switch: Callable[[str, str], None] = lambda old, new: None) -> None:
        if not names:
            raise ValueError("no gateway endpoint")
        self.names = list(names)
        self.current = 0
        self.switches = 0
        self.on_switch = on_switch

    def failed(self, index: int) -> int:
        """Endpoint ``index`` failed a call: the next one becomes current if ``index`` still is;
        returns the current index."""
        if index == self.current and len(self.names) > 1:
            self.current = (index + 1) % len(self.names)
            self.switches += 1
            self.on_switch(self.names[index], self.names[self.current])
        return self.current

    def attempts(self) -> list[int]:
        """The order a repeatable call tries the endpoints in: the current one, then the others."""
        n = len(self.names)
        return [(self.current + k) % n for k in range(n)]


class ChannelPool:
    """One grpc.aio channel per endpoint, opened on first use (inside the running event loop)."""

    def __init__(self, names: Sequence[str], open_channel: Callable[[str], grpc.aio.Channel]) -> None:
        self.names, self._open = list(names), open_channel
        self._channels: dict[int, grpc.aio.Channel] = {}

    def get(self, index: int) -> grpc.aio.Channel:
        if index not in self._channels:
            self._channels[index] = self._open(self.names[index])
        return self._channels[index]

    async def close(self) -> None:
        for ch in self._channels.values():
            await ch.close()
        self._channels.clear()


class FailoverGateway(Gateway):
    """A Gateway over several endpoints (see the module's doc). ``make(i)`` is the plain Gateway of
    endpoint ``i`` (its channel, identity and signer); each is made once. ``pool``: the channels
    :meth:`close` closes (None: they are someone else's)."""

    def __init__(self, endpoints: Endpoints, make: Callable[[int], Gateway], pool: ChannelPool | None = None) -> None:
        self.endpoints, self._make, self._pool = endpoints, make, pool
        self._gateways: dict[int, Gateway] = {}
        # The first endpoint's client stands for the plain Gateway's fields (no call goes through them).
        first = self.gateway(endpoints.current)
        self.channel, self.identity, self.signer = first.channel, first.identity, first.signer
        self.timeouts, self.tls_cert_hash, self.stub = first.timeouts, first.tls_cert_hash, first.stub

    async def close(self) -> None:
        """Close every endpoint's channel (of the pool given), not only the first one's."""
        if self._pool is not None:
            await self._pool.close()

    def gateway(self, index: int) -> Gateway:
        if index not in self._gateways:
            self._gateways[index] = self._make(index)
        return self._gateways[index]

    async def _repeatable(self, call: Callable[[Gateway], Awaitable[T]], plans: bool = False) -> T:
        """``call`` on the current endpoint, then on each other one while the failure is the
        endpoint's (the client moves on) or, with ``plans``, a :func:`plan_failure` (tried on the
        next endpoint for this call only: the peer is reachable, nothing is logged as a failover);
        the last error once every endpoint has had it."""
        tried: set[int] = set()
        index = self.endpoints.current
        while True:
            tried.add(index)
            try:
                return await call(self.gateway(index))
            except GatewayError as e:
                if endpoint_failure(e):
                    nxt: int | None = self.endpoints.failed(index)
                elif plans and plan_failure(e):
                    nxt = None
                else:
                    raise
                if nxt is None or nxt in tried:  # another call moved it, or not moved: any untried one
                    nxt = next((i for i in self.endpoints.attempts() if i not in tried), None)
                if nxt is None:
                    raise
                index = nxt

    def proposal(
        self,
        channel: str,
        chaincode: str,
        function: str,
        args: Sequence[str | bytes],
        transient: Mapping[str, bytes] | None = None,
    ) -> Proposal:
        return self.gateway(self.endpoints.current).proposal(channel, chaincode, function, args, transient)

    async def evaluate(
        self,
        channel: str,
        chaincode: str,
        function: str,
        args: Sequence[str | bytes] = (),
        transient: Mapping[str, bytes] | None = None,
    ) -> bytes:
        return await self._repeatable(lambda g: g.evaluate(channel, chaincode, function, args, transient), plans=True)

    async def endorse(
        self,
        channel: str,
        chaincode: str,
        function: str,
        args: Sequence[str | bytes] = (),
        transient: Mapping[str, bytes] | None = None,
        proposal: Proposal | None = None,
    ) -> Endorsed:
        return await self._repeatable(
            lambda g: g.endorse(channel, chaincode, function, args, transient, proposal), plans=True
        )

    async def submit(self, tx: Endorsed) -> None:
        index = self.endpoints.current
        try:
            await self.gateway(index).submit(tx)
        except GatewayError as e:
            if endpoint_failure(e) and len(self.endpoints.names) > 1:
                self.endpoints.failed(index)
                e.failed_over = True  # one peer's failure: the next call goes to another
            raise

    async def commit_status(
        self, tx: Endorsed | str, channel: str | None = None, timeout: float | None = None
    ) -> Status:
        return await self._repeatable(lambda g: g.commit_status(tx, channel, timeout))

    async def _stream(self, open_stream: Callable[[Gateway], AsyncIterator[T]]) -> AsyncGenerator[T, None]:
        index = self.endpoints.current
        try:
            async with aclosing(open_stream(self.gateway(index))) as stream:  # type: ignore[type-var]
                async for item in stream:
                    yield item
        except GatewayError as e:
            if endpoint_failure(e):
                self.endpoints.failed(index)
            raise

    async def chaincode_events(
        self, channel: str, chaincode: str, start_block: int | None = None, after_tx_id: str = ""
    ) -> AsyncIterator[ChaincodeEvent]:
        async for ev in self._stream(lambda g: g.chaincode_events(channel, chaincode, start_block, after_tx_id)):
            yield ev

    async def _deliver(
        self, method: str, kind: str, channel: str, start_block: int | None
    ) -> AsyncGenerator[Any, None]:
        async for item in self._stream(lambda g: g._deliver(method, kind, channel, start_block)):
            yield item
