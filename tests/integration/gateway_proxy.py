"""A gRPC proxy in front of the real peer's Gateway service, for fault injection on the real path.

A worker pointed at the proxy (plaintext, loopback) talks to the real peer through it (TLS with
the peer's root and the client's TLS certificate): real endorsements, real orderer, real ledger.
The proxy forwards bytes untouched (status, details and the ErrorDetail trailers included), and
can be told to misbehave for the calls whose request carries a marker (a requestId appears
verbatim in the serialized proposal and transaction):

- ``hold(marker)``: Endorse waits until ``release(marker)`` (a slow command, held in Fabric);
- ``fail_endorse(marker, code, times, details)``: answer Endorse with an error, not forwarded;
- ``lose_submit_answer(marker, code, times)``: forward Submit (the transaction reaches the
  orderer and commits), then answer the client with an error, as a timeout or a dropped
  connection would;
- ``down = True``: every call answers UNAVAILABLE (Fabric unreachable) without forwarding.

Runs on its own event loop in a thread; the fault settings are plain attributes read per call.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from dataclasses import dataclass, field

import grpc
from fabric_protos.gateway import gateway_pb2
from google.protobuf import any_pb2
from google.rpc import status_pb2

UNARY = (
    "/gateway.Gateway/Endorse",
    "/gateway.Gateway/Submit",
    "/gateway.Gateway/CommitStatus",
    "/gateway.Gateway/Evaluate",
)
STREAMS = ("/gateway.Gateway/ChaincodeEvents",)


@dataclass
class _Fault:
    code: grpc.StatusCode
    times: int
    message: str = "injected by the test's gateway proxy"
    details: tuple[str, ...] = ()
    skip: int = 0  # matching calls let through first


@dataclass
class GatewayProxy:
    target: str
    tls_root: bytes
    server_name: str | None = None
    client_cert: bytes | None = None
    client_key: bytes | None = None
    down: bool = False
    calls: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._held: dict[bytes, asyncio.Event] = {}
        self._endorse_faults: dict[bytes, _Fault] = {}
        self._submit_faults: dict[bytes, _Fault] = {}
        self._lock = threading.Lock()
        self.port = 0

    # --- faults (called from the test's thread) ---------------------------------------------
    def hold(self, marker: str) -> None:
        with self._lock:
            self._held[marker.encode()] = asyncio.Event()

    def release(self, marker: str) -> None:
        with self._lock:
            ev = self._held.pop(marker.encode(), None)
        if ev is not None:
            self._loop.call_soon_threadsafe(ev.set)

    def fail_endorse(
        self,
        marker: str,
        code: grpc.StatusCode,
        times: int = 1_000_000,
        message: str = "injected by the test's gateway proxy",
        details: tuple[str, ...] = (),
        skip: int = 0,
    ) -> None:
        """Answer the next ``times`` Endorse calls carrying ``marker`` with ``code`` (after letting
        ``skip`` of them through), with ``details`` as the peers' ErrorDetail messages."""
        with self._lock:
            self._endorse_faults[marker.encode()] = _Fault(code, times, message, details, skip)

    def lose_submit_answer(
        self, marker: str, code: grpc.StatusCode = grpc.StatusCode.DEADLINE_EXCEEDED, times: int = 1
    ) -> None:
        with self._lock:
            self._submit_faults[marker.encode()] = _Fault(code, times)

    def clear(self) -> None:
        with self._lock:
            held = list(self._held.values())
            self._held.clear()
            self._endorse_faults.clear()
            self._submit_faults.clear()
        for ev in held:
            self._loop.call_soon_threadsafe(ev.set)
        self.down = False

    # --- the server ---------------------------------------------------------------------------
    def start(self) -> GatewayProxy:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True, name="gateway-proxy")
        self._thread.start()
        assert ready.wait(10), "the gateway proxy did not start"
        return self

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.clear()
        fut = asyncio.run_coroutine_threadsafe(self._stop(), self._loop)
        fut.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        creds = grpc.ssl_channel_credentials(self.tls_root, self.client_key, self.client_cert)
        opts = [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []
        self._upstream = grpc.aio.secure_channel(self.target, creds, options=opts)
        self._server = grpc.aio.server()
        self._server.add_generic_rpc_handlers((_Handler(self),))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()

    async def _stop(self) -> None:
        await self._server.stop(None)
        await self._upstream.close()

    def _take(self, faults: dict[bytes, _Fault], request: bytes) -> _Fault | None:
        with self._lock:
            for marker, f in faults.items():
                if marker in request and f.skip > 0:
                    f.skip -= 1
                    return None
                if marker in request and f.times > 0:
                    f.times -= 1
                    return f
        return None

    async def unary(self, method: str, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        self.calls[method] = self.calls.get(method, 0) + 1
        if self.down:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "injected: the gateway is down")
        if method.endswith("/Endorse"):
            with self._lock:
                waits = [ev for marker, ev in self._held.items() if marker in request]
            for ev in waits:
                await ev.wait()
            fault = self._take(self._endorse_faults, request)
            if fault is not None:
                await _abort(context, fault)
        lost = self._take(self._submit_faults, request) if method.endswith("/Submit") else None
        call = self._upstream.unary_unary(method)
        try:
            response = await call(request, timeout=context.time_remaining())
        except grpc.aio.AioRpcError as e:
            context.set_trailing_metadata(tuple(e.trailing_metadata() or ()))
            await context.abort(e.code(), e.details() or "")
        if lost is not None:  # it reached the orderer; the client never hears so
            await context.abort(lost.code, "injected: the answer to Submit was lost")
        return response

    async def stream(self, method: str, request: bytes, context: grpc.aio.ServicerContext):
        if self.down:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "injected: the gateway is down")
        async for item in self._upstream.unary_stream(method)(request):
            yield item


async def _abort(context: grpc.aio.ServicerContext, f: _Fault) -> None:
    st = status_pb2.Status(code=f.code.value[0], message=f.message)
    for d in f.details:
        a = any_pb2.Any()
        a.Pack(gateway_pb2.ErrorDetail(address="proxy", msp_id="Org1MSP", message=d))
        st.details.append(a)
    context.set_trailing_metadata((("grpc-status-details-bin", st.SerializeToString()),))
    await context.abort(f.code, f.message)


class _Handler(grpc.GenericRpcHandler):
    def __init__(self, proxy: GatewayProxy) -> None:
        self.proxy = proxy

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        # grpc.aio tells coroutine handlers from plain ones by their function (a partial keeps it).
        m = details.method
        if m in UNARY:
            return grpc.unary_unary_rpc_method_handler(functools.partial(self.proxy.unary, m))
        if m in STREAMS:
            return grpc.unary_stream_rpc_method_handler(functools.partial(self.proxy.stream, m))
        return None
