"""A Fabric node is ready when its operations endpoint says OK *and* the port its clients use
accepts connections: a `gxctl up` once failed because /healthz answered before the peer's gRPC
port listened, and `peer channel list` was refused (connection refused on 127.0.0.1:27051)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace
from typing import Any

import pytest

from stack.fabric_net import Orderer, Peer
from stack.settings import StackSettings


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"status": "OK"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def ops() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "node, ops_field, port_field",
    [(Peer, "peer_ops_port", "peer_port"), (Orderer, "orderer_ops_port", "orderer_admin_port")],
)
def test_healthy_needs_the_client_port_too(tmp_path, ops: int, node, ops_field: str, port_field: str) -> None:
    port = _free_port()
    ports: dict[str, Any] = {ops_field: ops, port_field: port}
    s = StackSettings(state_dir=tmp_path, host="127.0.0.1", **ports)
    n = node(SimpleNamespace(s=s, ops_ca=lambda: None))  # plain HTTP, as outside the secure mode
    assert not n.healthy()  # /healthz says OK, the client port is not listening yet
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        assert n.healthy()
