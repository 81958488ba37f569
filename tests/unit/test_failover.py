"""Several gateway endpoints (issue 34): the pure choice of endpoint, and the failover Gateway over
fake per-endpoint clients (which calls move on, which are repeated, which are left alone)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from fabric_gateway.client import Gateway, Status
from fabric_gateway.errors import CommitStatusError, EndorseError, ErrorDetail, GatewayError, SubmitError
from fabric_gateway.failover import Endpoints, FailoverGateway, endpoint_failure, parse_endpoints, plan_failure
from gxcommon.fabric_settings import FabricSettings

UNAVAILABLE, ABORTED = grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED


def test_endpoints_are_read_from_a_comma_list_in_order() -> None:
    assert parse_endpoints("h1:1, h2:2,,h1:1 ,h3:3") == ["h1:1", "h2:2", "h3:3"]
    assert parse_endpoints(["a:1", " b:2 "]) == ["a:1", "b:2"]
    assert parse_endpoints(None) == [] and parse_endpoints("") == []
    assert FabricSettings(gateway="127.0.0.1:26150,127.0.0.1:26160").gateways() == [
        "127.0.0.1:26150",
        "127.0.0.1:26160",
    ]
    assert FabricSettings(gateway="127.0.0.1:27051").gateways() == ["127.0.0.1:27051"]


def test_a_failure_moves_on_once_however_many_calls_saw_it() -> None:
    switches: list[tuple[str, str]] = []
    e = Endpoints(["a", "b", "c"], on_switch=lambda old, new: switches.append((old, new)))
    assert e.current == 0 and e.attempts() == [0, 1, 2]
    # A window of calls in flight on "a" all fail: one move, to "b", never round to "c" and back.
    assert [e.failed(0) for _ in range(50)] == [1] * 50
    assert switches == [("a", "b")] and e.switches == 1 and e.attempts() == [1, 2, 0]
    assert e.failed(1) == 2 and e.failed(2) == 0  # each in turn, then round
    assert switches == [("a", "b"), ("b", "c"), ("c", "a")]


def test_a_single_endpoint_stays_and_none_is_refused() -> None:
    e = Endpoints(["only"])
    assert e.failed(0) == 0 and e.switches == 0 and e.attempts() == [0]
    with pytest.raises(ValueError):
        Endpoints([])


def test_only_unavailable_is_the_endpoints_failure() -> None:
    assert endpoint_failure(EndorseError("down", "t", UNAVAILABLE))
    assert not endpoint_failure(EndorseError("policy", "t", ABORTED))
    assert not endpoint_failure(CommitStatusError("slow", "t", grpc.StatusCode.DEADLINE_EXCEEDED))
    assert not endpoint_failure(ValueError("x"))
    assert endpoint_failure(
        SubmitError("failed to connect to all addresses; last error: connection refused", "t", UNAVAILABLE)
    )
    assert endpoint_failure(GatewayError("Socket closed", "", UNAVAILABLE))


def test_the_gateway_peers_own_unavailable_is_the_networks() -> None:
    """A Raft leader killed: the gateway peer answers UNAVAILABLE about the orderer (seen on the HA
    stack), which another gateway peer would say too."""
    orderer = ErrorDetail("127.0.0.1:26050", "OrdererMSP", "rpc error: code = Unavailable desc = connection error")
    assert not endpoint_failure(
        SubmitError("no orderers could successfully process transaction", "t", UNAVAILABLE, (orderer,))
    )
    assert not endpoint_failure(SubmitError("no orderers could successfully process transaction", "t", UNAVAILABLE))
    assert not endpoint_failure(EndorseError("no peers available to evaluate chaincode gxtv3", "t", UNAVAILABLE))
    assert not endpoint_failure(
        EndorseError("no combination of peers can be derived which satisfy the endorsement policy", "t", UNAVAILABLE)
    )


class FakeClient:
    """One endpoint's client: answers with its name, or fails as told."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.channel = self.identity = self.signer = self.stub = object()
        self.timeouts, self.tls_cert_hash = None, b""
        self.fail: grpc.StatusCode | None = None
        self.calls: list[str] = []
        self.blocks_given = [1, 2, 3]

    def _maybe_fail(self, call: str, kind: type[GatewayError]) -> None:
        self.calls.append(call)
        if self.fail is not None:
            raise kind(f"{self.name} failed", "tx", self.fail)

    async def endorse(self, *args: Any) -> str:
        self._maybe_fail("endorse", EndorseError)
        return self.name

    async def evaluate(self, *args: Any) -> bytes:
        self._maybe_fail("evaluate", GatewayError)
        return self.name.encode()

    async def submit(self, tx: Any) -> None:
        self._maybe_fail("submit", SubmitError)

    async def commit_status(self, tx: Any, channel: Any = None, timeout: Any = None) -> Status:
        self._maybe_fail("commit_status", CommitStatusError)
        return Status("tx", "VALID", 7)

    async def _deliver(self, method: str, kind: str, channel: str, start: int | None) -> AsyncIterator[int]:
        self.calls.append(f"deliver@{start}")
        for n in self.blocks_given:
            if start is not None and n < start:
                continue
            if self.fail is not None and n == 2:
                raise GatewayError("stream broke", "", self.fail)
            yield n


def failover(n: int = 2) -> tuple[FailoverGateway, list[FakeClient]]:
    clients = [FakeClient(f"peer{i}") for i in range(n)]
    gw = FailoverGateway(Endpoints([c.name for c in clients]), lambda i: clients[i])  # type: ignore[arg-type,return-value]
    return gw, clients


async def test_a_repeatable_call_goes_on_to_the_next_endpoint_at_once() -> None:
    gw, [p0, p1] = failover()
    assert isinstance(gw, Gateway)
    p0.fail = UNAVAILABLE
    assert await gw.endorse("ch", "cc", "f", []) == "peer1"
    assert (await gw.commit_status("tx", "ch")).block == 7
    assert p0.calls == ["endorse"] and p1.calls == ["endorse", "commit_status"]  # stays on peer1
    assert gw.endpoints.current == 1


async def test_every_endpoint_down_raises_after_trying_each_once() -> None:
    gw, clients = failover(3)
    for c in clients:
        c.fail = UNAVAILABLE
    with pytest.raises(EndorseError) as ei:
        await gw.endorse("ch", "cc", "f", [])
    assert ei.value.code == UNAVAILABLE
    assert [c.calls for c in clients] == [["endorse"], ["endorse"], ["endorse"]]


async def test_the_networks_error_is_raised_and_the_endpoint_kept() -> None:
    gw, [p0, p1] = failover()
    p0.fail = ABORTED  # e.g. the policy could not be met: the other peer would say the same
    with pytest.raises(EndorseError):
        await gw.endorse("ch", "cc", "f", [])
    assert gw.endpoints.current == 0 and p1.calls == []


async def test_a_gateway_peer_that_knows_no_peers_for_the_policy_hands_the_endorsement_to_the_next() -> None:
    """Seen on the HA pass: peer0-org1 just restarted answered FAILED_PRECONDITION 'no combination
    of peers can be derived which satisfy the endorsement policy' (gossip had not yet told it of
    Org2 and Org3) while peer1-org1 could endorse; the harness stopped on it. The next endpoint is
    asked; only when every one says so is it raised (the network's: the policy cannot be met)."""
    gw, _ = failover()

    class NoPlan(FakeClient):
        async def endorse(self, *args: Any) -> str:
            self.calls.append("endorse")
            raise EndorseError(
                "no combination of peers can be derived which satisfy the endorsement policy: no peer "
                "combination can satisfy the endorsement policy",
                "tx",
                grpc.StatusCode.FAILED_PRECONDITION,
            )

    fresh = NoPlan("peer0")
    gw._gateways[0] = fresh  # type: ignore[assignment]
    assert await gw.endorse("ch", "cc", "f", []) == "peer1"
    # The peer is reachable: the client is not moved, nothing is logged as a failover (the review:
    # 10 endorsements with no plan anywhere moved the client 20 times, each "unreachable").
    assert fresh.calls == ["endorse"] and gw.endpoints.current == 0 and gw.endpoints.switches == 0
    gw2, _ = failover()
    gw2._gateways = {0: NoPlan("peer0"), 1: NoPlan("peer1")}  # type: ignore[dict-item]
    with pytest.raises(EndorseError) as ei:
        await gw2.endorse("ch", "cc", "f", [])
    assert ei.value.code == grpc.StatusCode.FAILED_PRECONDITION  # every endpoint said it: the network's
    assert gw2.endpoints.switches == 0
    # A submit is never handed on for it (nothing to plan there), nor a commit status.
    assert not plan_failure(SubmitError("x", "t", ABORTED))


async def test_submit_is_not_repeated_but_the_next_call_uses_the_next_endpoint() -> None:
    gw, [p0, p1] = failover()
    p0.fail = UNAVAILABLE
    with pytest.raises(SubmitError) as ei:
        await gw.submit(object())  # type: ignore[arg-type]
    # Marked as one peer's failure: the submitter's breaker does not count it (the review: five
    # submits in flight on a dying gateway peer opened the breaker with the other peer healthy).
    assert ei.value.failed_over
    assert p1.calls == [] and gw.endpoints.current == 1
    assert (await gw.commit_status("tx", "ch")).code == "VALID"  # the caller settles it on peer1
    assert p1.calls == ["commit_status"]


async def test_a_broken_block_stream_resumes_on_the_next_endpoint() -> None:
    gw, [p0, p1] = failover()
    p0.fail = UNAVAILABLE
    got = []
    with pytest.raises(GatewayError):
        async for b in gw._deliver("Deliver", "block", "ch", 1):  # what blocks() and filtered_blocks() read
            got.append(b)
    assert got == [1] and gw.endpoints.current == 1
    async for b in gw._deliver("Deliver", "block", "ch", got[-1] + 1):
        got.append(b)
    assert got == [1, 2, 3] and p1.calls == ["deliver@2"]


async def test_closing_a_connected_failover_gateway_closes_every_endpoints_channel(monkeypatch) -> None:
    """`FabricSettings.connect()` with two endpoints gave a client whose `channel.close()` closed
    the first endpoint's channel only (gxctl verify, projections wait and the harness leaked the
    others); `close()` closes them all."""
    from fabric_gateway import identity

    closed: list[str] = []

    class Channel:
        def __init__(self, endpoint: str) -> None:
            self.endpoint = endpoint

        def unary_unary(self, *a: Any, **k: Any) -> Any:
            return None

        def unary_stream(self, *a: Any, **k: Any) -> Any:
            return None

        def stream_unary(self, *a: Any, **k: Any) -> Any:
            return None

        def stream_stream(self, *a: Any, **k: Any) -> Any:
            return None

        async def close(self) -> None:
            closed.append(self.endpoint)

    f = FabricSettings(gateway="127.0.0.1:1,127.0.0.1:2", insecure_plaintext=True)
    monkeypatch.setattr(FabricSettings, "grpc_channel", lambda self, mb=None, endpoint=None: Channel(endpoint))
    ident = identity.Identity("Org1MSP", b"cert")
    [gw], _pool = f.failover([(ident, lambda b: b"sig")])
    assert isinstance(gw, FailoverGateway)
    gw.gateway(1)  # the second endpoint's client made (and its channel opened), as a failover does
    await gw.close()
    assert sorted(closed) == ["127.0.0.1:1", "127.0.0.1:2"]
